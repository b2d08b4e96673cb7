"""`python -m jobs.run_wrappers`: one tick; exit 0, or non-zero with a one-line reason on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from shared.common.errors import ResourceServiceError
from shared.common.settings import Settings
from shared.flows.tick import TickResult, default_owner, tick

EXIT_FAILED = 1
PROG = "run_wrappers"


def build_parser() -> argparse.ArgumentParser:
    """The job's (few) options; everything else comes from RS_* settings."""
    parser = argparse.ArgumentParser(
        prog=f"python -m jobs.{PROG}",
        description="Publish points waiting in outboxes, then claim and run every due wrapper once.",
    )
    parser.add_argument("--owner", help="lease owner name (default: host:pid:random)")
    return parser


def log_lines(result: TickResult) -> list[str]:
    """JSON log lines: one per run, then the tick's summary."""
    lines = [
        json.dumps(
            {"level": "INFO", "message": "run", "status": o.status.value, **o.run.model_dump(mode="json")}
        )
        for o in result.outcomes
    ]
    summary = {
        "level": "ERROR" if result.errors else "INFO",
        "message": "tick",
        "owner": result.owner,
        "runs": len(result.outcomes),
        "failed_runs": sum(1 for o in result.outcomes if o.run.error),
        "outbox_published": result.outbox_published,
        "outbox_waiting": result.outbox_waiting,
        "errors": result.errors,
    }
    return [*lines, json.dumps(summary)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one tick."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        result = tick(settings, owner=args.owner or default_owner())
    except ValidationError as exc:
        return _fail(f"invalid settings: {str(exc).splitlines()[0]}")
    except ResourceServiceError as exc:
        return _fail(str(exc))
    for line in log_lines(result):
        print(line, flush=True)
    if result.errors:
        return _fail(result.errors[0])
    return 0


def _fail(reason: str) -> int:
    print(f"{PROG}: error: {' '.join(reason.split())}", file=sys.stderr, flush=True)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
