"""`python -m jobs.run_wrappers`: one tick; exit 0, or non-zero with a one-line reason on stderr.

Stdout carries JSON lines only: log lines with a timestamp (the job's own and every library's, the
broker's retries included) and one CloudWatch embedded-metric-format record per tick. SIGTERM (Fargate
stopping the task) ends the tick early: no further wrapper is claimed, a run in progress is closed as
`interrupted` with its lease released (shared/flows/shutdown.py), and the job exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import IO

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from pydantic import ValidationError

from shared.common.errors import ResourceServiceError
from shared.common.settings import Settings
from shared.domain.models import RunStatus
from shared.flows.shutdown import Shutdown
from shared.flows.tick import TickResult, default_owner, tick

EXIT_FAILED = 1
PROG = "run_wrappers"
SERVICE = "run-wrappers"
NAMESPACE = "ResourceService"


def build_parser() -> argparse.ArgumentParser:
    """The job's (few) options; everything else comes from RS_* settings."""
    parser = argparse.ArgumentParser(
        prog=f"python -m jobs.{PROG}",
        description="Publish points waiting in outboxes, then claim and run every due wrapper once.",
    )
    parser.add_argument("--owner", help="lease owner name (default: host:pid:random)")
    return parser


def make_logger(stream: IO[str] | None = None, *, level: str = "INFO") -> Logger:
    """A JSON logger (UTC RFC 3339 timestamps) that every other logger of the process writes through too."""
    logger = Logger(service=SERVICE, stream=stream or sys.stdout, level=level, utc=True, use_rfc3339=True)
    # Library loggers (the broker's retries, the run's warnings) reach the root: same handler, same JSON.
    root = logging.getLogger()
    root.handlers = [logger.registered_handler]
    logging.getLogger(SERVICE).propagate = False  # its lines are written once, by the same handler
    root.setLevel(level)
    return logger


def log_result(logger: Logger, result: TickResult) -> None:
    """One line per run, then the tick's summary."""
    for outcome in result.outcomes:
        run = outcome.run
        fields = {"wrapper_status": outcome.status.value, **run.model_dump(mode="json")}
        (logger.warning if run.error else logger.info)("run", extra=fields)
    summary = {
        "owner": result.owner,
        "runs": len(result.outcomes),
        "failed_runs": sum(1 for o in result.outcomes if o.run.status == RunStatus.FAILED),
        "interrupted_runs": sum(1 for o in result.outcomes if o.run.status == RunStatus.INTERRUPTED),
        "outbox_published": result.outbox_published,
        "outbox_waiting": result.outbox_waiting,
        "stale_wrappers": result.stale_wrappers,
        "failing_wrappers": result.failing_wrappers,
        "stopped": result.stopped,
        "errors": result.errors,
    }
    (logger.error if result.errors else logger.info)("tick", extra=summary)


def emit_metrics(result: TickResult | None) -> None:
    """Print the tick's EMF record: runs, failures, points, outbox depth, durations, unhealthy wrappers.

    `None` is a tick that could not run at all (settings, database): one `TickFailures`.
    """
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    count = MetricUnit.Count
    if result is None:
        metrics.add_metric(name="TickFailures", unit=count, value=1)
        metrics.flush_metrics()
        return
    runs = [outcome.run for outcome in result.outcomes]
    statuses = [run.status for run in runs]
    metrics.add_metric(name="Runs", unit=count, value=len(runs))
    metrics.add_metric(name="RunFailures", unit=count, value=statuses.count(RunStatus.FAILED))
    metrics.add_metric(name="RunsInterrupted", unit=count, value=statuses.count(RunStatus.INTERRUPTED))
    metrics.add_metric(name="PointsNew", unit=count, value=sum(run.points_new for run in runs))
    metrics.add_metric(name="PointsRevised", unit=count, value=sum(run.points_revised for run in runs))
    metrics.add_metric(name="OutboxDepth", unit=count, value=result.outbox_waiting)
    metrics.add_metric(name="TickFailures", unit=count, value=1 if result.errors else 0)
    metrics.add_metric(name="StaleWrappers", unit=count, value=len(result.stale_wrappers))
    metrics.add_metric(name="FailingWrappers", unit=count, value=len(result.failing_wrappers))
    for run in runs:  # one value per run: CloudWatch gets their distribution
        metrics.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=run.duration_seconds or 0.0)
    metrics.flush_metrics()


def stop_on_sigterm(shutdown: Shutdown) -> None:
    """Turn SIGTERM into a stop request: the tick ends early and cleanly."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        shutdown.request()

    signal.signal(signal.SIGTERM, on_signal)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one tick."""
    args = build_parser().parse_args(argv)
    shutdown = Shutdown()
    stop_on_sigterm(shutdown)
    logger = make_logger()
    try:
        settings = Settings()
        logger.setLevel(settings.log_level)
        logging.getLogger().setLevel(settings.log_level)
        result = tick(settings, owner=args.owner or default_owner(), shutdown=shutdown)
    except ValidationError as exc:
        return _fail(logger, f"invalid settings: {str(exc).splitlines()[0]}")
    except ResourceServiceError as exc:
        return _fail(logger, str(exc))
    log_result(logger, result)
    emit_metrics(result)
    if result.errors:
        return _fail(logger, result.errors[0], counted=True)
    return 0


def _fail(logger: Logger, reason: str, *, counted: bool = False) -> int:
    line = " ".join(reason.split())
    logger.error("tick failed", extra={"reason": line})
    if not counted:
        emit_metrics(None)
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
