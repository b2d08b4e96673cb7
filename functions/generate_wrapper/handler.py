"""Lambda handler: generate a wrapper for each message of wrapper_creation_queue."""

from __future__ import annotations

from shared.consumer import make_mq_handler
from shared.workflow import generate_step

handler = make_mq_handler(generate_step, service="generate-wrapper")
