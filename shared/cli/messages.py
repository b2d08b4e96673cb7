"""The `resource-service messages` sub-commands: list and replay parked messages, migrate a queue."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shared.common.errors import ResourceServiceError
from shared.common.settings import Settings
from shared.messaging.migration import MigrationResult, migrate_queue
from shared.messaging.parking import ParkedMessage, list_parked, replay
from shared.messaging.queues import PARKING_QUEUE, QUEUES

EXIT_INCOMPLETE = 1
EXIT_UNAVAILABLE = 6
DEFAULT_LIMIT = 100


def add_message_commands(subparsers: Any) -> None:
    """Add `messages parked`, `replay` and `migrate` to the command line's sub-parsers."""
    messages = subparsers.add_parser(
        "messages",
        help="inspect and replay the messages the service gave up on",
        description=f"Messages the queue handlers could not use, and the overflow of resource_data, wait in "
        f"the {PARKING_QUEUE!r} queue of the broker at RS_AMQP_URL.",
    )
    commands = messages.add_subparsers(dest="messages_command", required=True)
    parked = commands.add_parser(
        "parked",
        help="list the parked messages, oldest first (they stay parked)",
        description="List the parked messages, oldest first: id, original queue, time, deliveries, reason "
        "and correlation id. Listing consumes nothing.",
    )
    parked.add_argument("--json", action="store_true", help="print one JSON document")
    parked.add_argument(
        "--limit", type=_positive, default=DEFAULT_LIMIT, help=f"at most this many (default {DEFAULT_LIMIT})"
    )
    again = commands.add_parser(
        "replay",
        help="move parked messages back to their original queues",
        description="Publish parked messages to the queue each came from (confirmed), then remove them "
        "from the parking queue.",
    )
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", dest="ids", metavar="ID", help="a parked id (repeatable)")
    which.add_argument("--all", action="store_true", help="every message parked now")
    migrate = commands.add_parser(
        "migrate",
        help="give live queues the arguments (limits, dead letters) this version declares",
        description="RabbitMQ cannot change a queue's arguments in place: move its messages to "
        "QUEUE.migrating, delete it, declare it again and move them back in order. Stop the queue's "
        "consumers first; the service's publishers may keep running.",
    )
    migrate.add_argument(
        "queues", nargs="+", choices=QUEUES, metavar="QUEUE", help=f"one or more of {', '.join(QUEUES)}"
    )


def run_messages(args: argparse.Namespace) -> int:
    """`resource-service messages …`: a one-line reason and a non-zero exit on failure."""
    settings = Settings()
    try:
        if args.messages_command == "parked":
            return _print_parked(list_parked(settings, limit=args.limit), as_json=args.json)
        if args.messages_command == "migrate":
            for queue in args.queues:
                _print_migration(migrate_queue(settings, queue))
            return 0
        result = replay(settings, ids=None if args.all else set(args.ids))
    except ResourceServiceError as exc:
        print(f"resource-service: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    for parked in result.replayed:
        print(f"replayed {parked.id} to {parked.queue}")
    print(f"{len(result.replayed)} message(s) replayed", file=sys.stderr)
    for line in result.failed:
        print(f"resource-service: error: not replayed: {line}", file=sys.stderr)
    for missing in result.not_found:
        print(f"resource-service: error: no parked message {missing}", file=sys.stderr)
    return EXIT_INCOMPLETE if result.failed or result.not_found else 0


def _print_parked(parked: list[ParkedMessage], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps([message.model_dump(mode="json") for message in parked], indent=2))
        return 0
    for message in parked:
        when = message.parked_at.isoformat() if message.parked_at else "-"
        correlation = f" correlation {message.correlation_id}" if message.correlation_id else ""
        print(
            f"{message.id}  {message.queue or '?'}  {when}  deliveries {message.delivery_count}"
            f"{correlation}  {message.reason}"
        )
    print(f"{len(parked)} parked message(s) listed", file=sys.stderr)
    return 0


def _print_migration(result: MigrationResult) -> None:
    arguments = ", ".join(f"{name}={value!r}" for name, value in result.arguments.items()) or "no arguments"
    if result.redeclared:
        print(f"queue {result.queue!r} declared again with {arguments}; {result.moved} message(s) moved back")
    else:
        print(f"queue {result.queue!r} already has {arguments}; {result.moved} held message(s) moved back")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
