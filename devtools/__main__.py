"""`python -m devtools bench|dev`: the developer commands (`make bench`, `make dev`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from devtools.bench import add_bench_command


def build_parser() -> argparse.ArgumentParser:
    """The parser of the developer commands."""
    parser = argparse.ArgumentParser(prog="python -m devtools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_bench_command(commands)
    dev = commands.add_parser(
        "dev",
        help="run the local stack: the API with uvicorn and a bridge from RabbitMQ to the MQ handlers",
        description="Serve the API and feed wrapper_creation_queue and wrapper_validation_queue messages to "
        "the generate and validate handlers, against the MongoDB and RabbitMQ named by RS_MONGODB_URI "
        "and RS_AMQP_URL.",
    )
    dev.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    dev.add_argument("--port", type=int, default=8000, help="default: 8000")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one developer command."""
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        from devtools.bench import run_bench

        return run_bench(args)
    from devtools.local_stack import run_dev
    from shared.common.settings import Settings

    return run_dev(Settings(), host=args.host, port=args.port)


if __name__ == "__main__":
    sys.exit(main())
