"""One batch of wrapper-queue messages, handled the way the Amazon MQ trigger needs it.

The trigger retries a whole failed batch forever and has no DLQ: each message is handled on its own,
a message no step can use (malformed, or for no known wrapper) is kept in the parking queue with the
reason and acknowledged, a permanent failure is parked on the wrapper (`failed`, with the reason), and
only transient faults (database, broker, a lease held elsewhere) make the batch fail so that it is
redelivered. Handling is idempotent, so redelivery changes nothing that was done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from shared.common.correlation import correlated, valid_correlation_id
from shared.common.errors import BrokerError, TransientBatchError, TransientError
from shared.common.secrets import read_secret
from shared.common.settings import Settings
from shared.domain.lifecycle import IN_PREPARATION, LEASE_FIELDS, clip_reason
from shared.domain.models import WrapperStatus
from shared.flows.steps import UNKNOWN_WRAPPER, MessagePublisher, StepOutcome
from shared.messaging.broker import get_publisher
from shared.messaging.mq_event import QueueMessage, parse_rabbitmq_event
from shared.messaging.parking import BodyPublisher, park
from shared.store.database import get_database
from shared.store.wrappers import WrapperRepository

# A retry can cure these: the batch fails and the trigger redelivers it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TransientError, ConnectionFailure)


class Step(Protocol):
    """generate_step or validate_step."""

    def __call__(
        self, wrapper_id: str, *, db: Database, publisher: MessagePublisher, settings: Settings, owner: str
    ) -> StepOutcome: ...


class BatchResult(BaseModel):
    """What happened to each message of a batch."""

    outcomes: list[StepOutcome] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)
    transient: list[str] = Field(default_factory=list)


class Observer(Protocol):
    """The logging and metrics a handler passes in (Powertools in Lambda)."""

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None: ...
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None: ...
    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None: ...


def with_secrets(settings: Settings) -> Settings:
    """Settings with the Gemini key read from Secrets Manager when an ARN is configured."""
    if settings.gemini_secret_arn and settings.gemini_api_key is None:
        return settings.model_copy(
            update={
                "gemini_api_key": read_secret(
                    settings.gemini_secret_arn,
                    "api_key",
                    max_age_seconds=settings.service_secret_max_age_seconds,
                )
            }
        )
    return settings


def _wrapper_id(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("wrapper_id"), str):
        return None
    try:
        return str(uuid.UUID(body["wrapper_id"]))
    except ValueError:
        return None


def handle_wrapper_batch(
    event: dict[str, Any],
    *,
    step: Step,
    settings: Settings,
    owner: str,
    logger: Observer,
    count: Callable[[str], None] = lambda name: None,
) -> BatchResult:
    """Run `step` for every message of an Amazon MQ RabbitMQ event; raise only for transient faults."""
    result = BatchResult()
    messages = parse_rabbitmq_event(event)
    count("Batches")
    settings = with_secrets(settings)
    db = get_database(settings)
    publisher = get_publisher(settings)
    for message in messages:
        wrapper_id = _wrapper_id(message.body) if message.ok else None
        if wrapper_id is None:
            reason = message.error or f"expected {{'wrapper_id': uuid}}, got {str(message.body)[:200]}"
            if _park_message(message, reason, publisher=publisher, logger=logger, result=result):
                count("MalformedMessages")
            continue
        context = {
            "wrapper_id": wrapper_id,
            "message_id": message.message_id,
            "redelivered": message.redelivered,
        }
        # The API request that caused the message: its id goes on every line and into the next hand-over.
        body = message.body if isinstance(message.body, dict) else {}
        correlation_id = valid_correlation_id(body.get("correlation_id"))
        if correlation_id is not None:
            context["correlation_id"] = correlation_id
        try:
            with correlated(correlation_id):
                outcome = step(wrapper_id, db=db, publisher=publisher, settings=settings, owner=owner)
        except TRANSIENT_ERRORS as exc:
            logger.warning(
                "transient fault; the batch will be redelivered", extra={**context, "error": str(exc)}
            )
            result.transient.append(f"{wrapper_id}: {exc}")
            count("TransientFaults")
            continue
        except Exception as exc:
            logger.exception("unexpected error; parking the wrapper as failed", extra=context)
            outcome = _park(db, wrapper_id, exc)
        if outcome.detail == UNKNOWN_WRAPPER:
            _park_message(
                message, f"no wrapper {wrapper_id}", publisher=publisher, logger=logger, result=result
            )
        logger.info(
            f"wrapper {outcome.action}", extra={**context, "outcome": outcome.model_dump(mode="json")}
        )
        count(f"Wrapper{outcome.action.capitalize()}")
        result.outcomes.append(outcome)
    if result.transient:
        raise TransientBatchError(
            f"{len(result.transient)} message(s) met a transient fault: {result.transient[0]}"
        )
    return result


def _park_message(
    message: QueueMessage, reason: str, *, publisher: BodyPublisher, logger: Observer, result: BatchResult
) -> bool:
    """Keep a message no step can use in the parking queue; if the broker refuses, redeliver the batch."""
    extra = {"message_id": message.message_id, "queue": message.queue, "reason": reason}
    try:
        parked = park(message, reason, publisher=publisher)
    except BrokerError as exc:
        logger.warning(
            "cannot park a message; the batch will be redelivered", extra={**extra, "error": str(exc)}
        )
        result.transient.append(f"{message.message_id}: cannot park it: {exc}")
        return False
    logger.warning("parked a message no step can use", extra={**extra, "parked_id": parked})
    result.rejected.append(f"{message.message_id}: {reason}")
    return True


def _park(db: Database, wrapper_id: str, exc: Exception) -> StepOutcome:
    """Record an unexpected error on the wrapper so the trigger does not retry it forever."""
    reason = clip_reason(f"internal error while handling the wrapper: {type(exc).__name__}: {exc}")
    try:
        WrapperRepository(db).transition(
            wrapper_id,
            expected=IN_PREPARATION,
            to=WrapperStatus.FAILED,
            reason=reason,
            unset=LEASE_FIELDS,
        )
    except PyMongoError:
        raise TransientBatchError(f"cannot park wrapper {wrapper_id}: database unavailable") from exc
    return StepOutcome(wrapper_id=wrapper_id, action="failed", status=WrapperStatus.FAILED, detail=reason)


LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_mq_handler(step: Step, *, service: str) -> LambdaHandler:
    """A Lambda handler for one wrapper queue, with Powertools logging (JSON) and metrics."""
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    from shared.common.settings import get_settings
    from shared.common.tracing import make_tracer

    logger = Logger(service=service)
    metrics = Metrics(namespace="ResourceService", service=service)
    tracer = make_tracer(service)

    def count(name: str) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Handle each message on its own; raise only for transient faults so the batch is redelivered."""
        settings = get_settings()
        owner = context.aws_request_id
        result = handle_wrapper_batch(
            event, step=step, settings=settings, owner=owner, logger=logger, count=count
        )
        return result.model_dump(mode="json")

    return handler
