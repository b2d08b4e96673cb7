"""Lambda handler: validate a wrapper for each message of wrapper_validation_queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.consumer import handle_wrapper_batch
from shared.settings import get_settings
from shared.workflow import validate_step

SERVICE = "validate-wrapper"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="ResourceService", service=SERVICE)


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle each message on its own; raise only for transient faults so the batch is redelivered."""
    result = handle_wrapper_batch(
        event,
        step=validate_step,
        settings=get_settings(),
        owner=context.aws_request_id,
        logger=logger,
        count=_count,
    )
    return result.model_dump(mode="json")
