"""Lambda handler: validate a wrapper for each message of wrapper_validation_queue."""

from __future__ import annotations

from shared.flows.batch import make_mq_handler
from shared.flows.steps import validate_step

handler = make_mq_handler(validate_step, service="validate-wrapper")
