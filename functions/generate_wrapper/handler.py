"""Lambda handler: generate a wrapper for each message of wrapper_creation_queue."""

from __future__ import annotations

from shared.flows.batch import make_mq_handler
from shared.flows.steps import generate_step

handler = make_mq_handler(generate_step, service="generate-wrapper")
