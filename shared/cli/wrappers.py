"""`resource-service wrappers …`: a wrapper's state and runs, and the hand-offs a user may ask for."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import quote

from shared.cli.client import EXIT_USAGE, ServiceClient, client_options, fail, run_with_client
from shared.cli.tables import Column, short_time, write_fields, write_table

# Statuses a wrapper reaches only with validated code, and those it ends in without it.
READY = frozenset({"ready", "running", "completed", "stopped"})
NOT_READY = frozenset({"failed", "error"})
POLL_SECONDS = 1.0
EXIT_NOT_READY = 5
EXIT_WAIT_TIMEOUT = 7


@dataclass(frozen=True)
class WrapperWait:
    """How a wait for a wrapper ended."""

    wrapper_id: str
    status: str
    reason: str | None
    waited: float
    timed_out: bool

    @property
    def ready(self) -> bool:
        """The wrapper has validated code."""
        return self.status in READY


def wait_until_ready(
    client: ServiceClient,
    wrapper_id: str,
    *,
    timeout: float,
    progress: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WrapperWait:
    """Poll the wrapper until it is ready, failed or `timeout` seconds passed; report each new status."""
    started = clock()
    seen: str | None = None
    while True:
        wrapper = client.get(f"/wrappers/{quote(wrapper_id, safe='')}")
        status, reason = wrapper["status"], wrapper.get("status_reason")
        waited = clock() - started
        if status != seen:
            progress(f"wrapper {wrapper_id}: {status}" + (f" ({reason})" if reason else ""))
            seen = status
        if status in READY or status in NOT_READY:
            return WrapperWait(wrapper_id, status, reason, waited, timed_out=False)
        if waited >= timeout:
            return WrapperWait(wrapper_id, status, reason, waited, timed_out=True)
        sleep(min(POLL_SECONDS, max(timeout - waited, 0.0)))


def add_wrapper_commands(subparsers: Any) -> None:
    """Add `wrappers show|runs|start|stop|run-now|backfill` to the command line's sub-parsers."""
    options = client_options()
    wrappers = subparsers.add_parser(
        "wrappers",
        help="a wrapper's state and runs; start, stop, run now or backfill it",
        description="Wrappers on the service's API (--api, RS_API_URL or the config file; key from "
        "RS_API_KEY or the config file).",
    )
    commands = wrappers.add_subparsers(dest="wrappers_command", required=True)
    show = commands.add_parser(
        "show", parents=[options], help="status, generator, inference, validation and water marks"
    )
    show.add_argument("wrapper_id")
    show.add_argument("--code", action="store_true", help="print the parse code too")
    show.set_defaults(run=_show)
    runs = commands.add_parser("runs", parents=[options], help="the wrapper's runs, newest first")
    runs.add_argument("wrapper_id")
    runs.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    runs.add_argument("--offset", type=int, default=0, help="skip this many (default: 0)")
    runs.set_defaults(run=_runs)
    for name, help_text in (
        ("start", "run a validated wrapper (again): running, due now"),
        ("stop", "stop a wrapper: no further runs"),
        ("run-now", "make a running wrapper due now, so the next tick runs it"),
    ):
        command = commands.add_parser(name, parents=[options], help=help_text)
        command.add_argument("wrapper_id")
        command.set_defaults(run=_control, action=name)
    backfill = commands.add_parser(
        "backfill",
        parents=[options],
        help="re-run from a time: unchanged points are kept, changed ones revised",
    )
    backfill.add_argument("wrapper_id")
    backfill.add_argument(
        "--from", dest="start", required=True, metavar="TIME", help="ISO 8601, not in the future"
    )
    backfill.set_defaults(run=_backfill)


def run_wrappers(args: argparse.Namespace) -> int:
    """`resource-service wrappers …`: one line on stderr and a non-zero exit on failure."""
    return run_with_client(args, args.run)


def _path(wrapper_id: str, action: str = "") -> str:
    return f"/wrappers/{quote(wrapper_id, safe='')}" + (f"/{action}" if action else "")


def _show(client: ServiceClient, args: argparse.Namespace) -> int:
    wrapper = client.get(_path(args.wrapper_id))
    if args.json:
        print(json.dumps(wrapper, ensure_ascii=False))
        return 0
    write_wrapper(wrapper, sys.stdout)
    if args.code:
        print(f"\n{wrapper.get('generated_code') or '# no code yet'}")
    return 0


def write_wrapper(wrapper: dict[str, Any], out: TextIO) -> None:
    """A wrapper's state as `name: value` lines."""
    inference = wrapper.get("inference") or {}
    validation = wrapper.get("validation") or {}
    summary = validation.get("summary") or {}
    fields: list[tuple[str, object]] = [
        ("id", wrapper["wrapper_id"]),
        ("resource", wrapper["resource_id"]),
        (
            "status",
            wrapper["status"] + (f" ({wrapper['status_reason']})" if wrapper.get("status_reason") else ""),
        ),
        ("mode", wrapper["mode"]),
        ("source", wrapper["source_type"]),
        ("generator", wrapper.get("generator")),
        ("attempts", wrapper.get("attempts")),
        ("rationale", wrapper.get("rationale")),
    ]
    if inference:
        confidence = inference.get("confidence")
        chosen = inference.get("chosen")
        fields.append(
            ("inference", f"confidence {confidence:.2f}" + (f", chose {chosen}" if chosen else ""))
            if isinstance(confidence, int | float)
            else ("inference", chosen)
        )
        for alternative in inference.get("alternatives") or []:
            fields.append(("alternative", _alternative(alternative)))
    if validation:
        verdict = "ok" if validation.get("ok") else "failed"
        if summary:
            verdict += (
                f": {summary.get('count')} points in {summary.get('series')} series, "
                f"{summary.get('first')} .. {summary.get('last')}"
            )
        fields.append(("validation", verdict))
    fields += [
        ("high water mark", short_time(wrapper.get("high_water_mark"))),
        ("next run", short_time(wrapper.get("next_run_at"))),
        ("updated", short_time(wrapper["updated_at"])),
    ]
    write_fields(fields, out)


def _alternative(alternative: Any) -> str:
    if not isinstance(alternative, dict):
        return str(alternative)
    label = alternative.get("label") or json.dumps(alternative, ensure_ascii=False)
    hint = alternative.get("hint") or {}
    picks = " ".join(f"--option {shlex.quote(f'{name}={value}')}" for name, value in hint.items())
    return f"{label}" + (f" (pick with {picks})" if picks else "")


def _runs(client: ServiceClient, args: argparse.Namespace) -> int:
    page = client.get(_path(args.wrapper_id, "runs"), params={"limit": args.limit, "offset": args.offset})
    if args.json:
        print(json.dumps(page, ensure_ascii=False))
        return 0
    columns: list[Column] = [
        ("STARTED", lambda r: short_time(r["started_at"])),
        ("TRIGGER", lambda r: r["trigger"]),
        (
            "SECONDS",
            lambda r: f"{r['duration_seconds']:.1f}" if r.get("duration_seconds") is not None else None,
        ),
        ("PAGES", lambda r: r["pages"]),
        ("FETCHED", lambda r: r["points_fetched"]),
        ("NEW", lambda r: r["points_new"]),
        ("REVISED", lambda r: r["points_revised"]),
        ("PUBLISHED", lambda r: r["points_published"]),
        ("WATER MARK", lambda r: short_time(r.get("high_water_mark"))),
        ("ERROR", lambda r: r.get("error")),
    ]
    write_table(page["items"], columns, sys.stdout)
    print(f"{len(page['items'])} of {page['total']} runs", file=sys.stderr)
    return 0


def _control(client: ServiceClient, args: argparse.Namespace) -> int:
    return _changed(client.post(_path(args.wrapper_id, args.action)), args)


def _backfill(client: ServiceClient, args: argparse.Namespace) -> int:
    try:
        datetime.fromisoformat(args.start)
    except ValueError:
        return fail(f"--from: not an ISO 8601 time: {args.start!r}", EXIT_USAGE)
    return _changed(client.post(_path(args.wrapper_id, "backfill"), {"start": args.start}), args)


def _changed(wrapper: dict[str, Any], args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(wrapper, ensure_ascii=False))
        return 0
    next_run = f", next run {short_time(wrapper['next_run_at'])}" if wrapper.get("next_run_at") else ""
    print(f"wrapper {wrapper['wrapper_id']}: {wrapper['status']}{next_run}")
    return 0
