"""The `resource-service` command line."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from shared.cli.api_keys import add_api_key_commands, run_api_key
from shared.cli.hints import add_hint_arguments, hints_from_arguments, unsure_lines
from shared.cli.messages import add_message_commands, run_messages
from shared.cli.resources import add_resource_commands, run_resources
from shared.cli.wrappers import add_wrapper_commands, run_wrappers
from shared.common.errors import (
    HintError,
    NoSeriesFoundError,
    ResourceServiceError,
    SourceError,
    UnsafeSourceError,
    UnsupportedFormatError,
    WrapperValidationError,
)
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, LayoutHints
from shared.flows.wrap import GENERATORS, WrapResult, wrap_code, wrap_source
from shared.generate.heuristic import rank_series
from shared.generate.heuristic.explain import explain, render_explain
from shared.points.point import Point
from shared.points.text import (
    TEXT_CHUNK,
    cell_widths,
    csv_lines,
    dimension_names,
    json_lines,
    point_columns,
    table_lines,
)
from shared.sandbox.run import prepare_sandbox
from shared.source.profile import build_profile
from shared.source.read import SourceData, read_source
from shared.validate.validation import ValidationReport

EXIT_USAGE = 2
EXIT_SOURCE = 3
EXIT_NO_SERIES = 4
EXIT_VALIDATION = 5


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="resource-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    wrap = commands.add_parser(
        "wrap",
        help="generate, validate and run a wrapper for a source; print its series",
        description="Generate a wrapper for SOURCE (path, http(s):// URL or s3:// object), validate it in "
        "the sandbox and run it on the whole source, with no database, broker or API key.",
    )
    wrap.add_argument("source", help="path, http(s):// URL or s3://bucket/key of a CSV, XLSX or JSON source")
    wrap.add_argument(
        "--name", required=True, help="indicator name, e.g. 'CO2 emissions per capita, Switzerland'"
    )
    wrap.add_argument("--description", default="", help="what the indicator measures")
    wrap.add_argument("--unit", default="", help="unit of the values, e.g. 't/capita'")
    wrap.add_argument("--generator", choices=GENERATORS, default="heuristic", help="default: heuristic")
    wrap.add_argument(
        "--format",
        choices=("table", "jsonl", "csv", "json"),
        default="table",
        help="default: table; json only with --explain",
    )
    wrap.add_argument(
        "--explain",
        action="store_true",
        help="print the row classes, blocks, time axis and ranked candidates (text, or JSON with "
        "--format json) and exit without running a wrapper",
    )
    wrap.add_argument("--out", type=Path, help="write the points to this file instead of stdout")
    wrap.add_argument("--plot", type=Path, help="draw the series into this PNG file")
    wrap.add_argument("--show-code", action="store_true", help="print the generated wrapper to stderr")
    wrap.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    wrap.add_argument(
        "--code",
        type=Path,
        metavar="FILE",
        help="validate and run this parse code instead of generating it (start from --show-code's output)",
    )
    add_hint_arguments(wrap)
    add_api_key_commands(commands)
    add_message_commands(commands)
    add_resource_commands(commands)
    add_wrapper_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    if args.command == "wrap":
        return run_wrap(args)
    if args.command == "api-key":
        return run_api_key(args)
    if args.command == "messages":
        return run_messages(args)
    if args.command == "resources":
        return run_resources(args)
    if args.command == "wrappers":
        return run_wrappers(args)
    return EXIT_USAGE


def _progress(quiet: bool, started: float) -> Callable[[str], None]:
    def report(message: str) -> None:
        if not quiet:
            print(f"[{time.monotonic() - started:6.2f}s] {message}", file=sys.stderr, flush=True)

    return report


def run_wrap(args: argparse.Namespace) -> int:
    """`resource-service wrap`: one-line reason and a non-zero exit on failure."""
    started = time.monotonic()
    progress = _progress(args.quiet, started)
    settings = Settings()
    if args.format == "json" and not args.explain:
        return _fail(
            "--format json is the --explain document; points come as table, jsonl or csv", EXIT_USAGE
        )
    try:
        hints = hints_from_arguments(args)
        code = _hand_written(args, hints)
    except HintError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"--code {args.code}: cannot read it ({exc})", EXIT_USAGE)
    try:
        request = IndicatorRequest(name=args.name, description=args.description, unit=args.unit, hints=hints)
        if not args.explain:
            # The sandbox child starts while the source is read (or fetched) and the wrapper generated.
            prepare_sandbox(settings)
        progress(f"reading {args.source}")
        source = read_source(args.source, settings=settings, encoding=hints.encoding)
        if args.explain:
            return _explain(source, request, as_json=args.format == "json")
        if code is not None:
            result = wrap_code(source, request, code, settings=settings, progress=progress)
        else:
            result = wrap_source(
                source, request, generator=args.generator, settings=settings, progress=progress
            )
    except HintError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (UnsupportedFormatError, UnsafeSourceError, SourceError) as exc:
        return _fail(f"cannot read source: {exc}", EXIT_SOURCE)
    except NoSeriesFoundError as exc:
        return _fail(str(exc), EXIT_NO_SERIES)
    except WrapperValidationError as exc:
        if args.code is not None and isinstance(exc.report, ValidationReport):
            print(f"validation report of {args.code}:\n{exc.report.feedback()}", file=sys.stderr)
        return _fail(str(exc), EXIT_VALIDATION)
    except ResourceServiceError as exc:
        return _fail(str(exc), EXIT_VALIDATION)
    except ValueError as exc:
        return _fail(f"invalid request: {exc}", EXIT_USAGE)
    for line in unsure_lines(result.draft.inference):
        # Not progress: a user must see these even with --quiet, or a doubtful series passes as certain.
        print(f"resource-service: {line}", file=sys.stderr)
    if result.fallback_reason:
        progress(result.fallback_reason)
    if args.show_code:
        print(_describe(result), file=sys.stderr)
    if result.pages > 1 or not result.pages_complete:
        # Said even with --quiet: the points below are every page's only when the walk reached the end.
        cut = "" if result.pages_complete else f"; {result.pages_stop}, later pages were not read"
        print(f"resource-service: read {result.pages} pages{cut}", file=sys.stderr)
    summary = result.report.summary
    progress(
        f"{len(result.points)} points in {summary.series if summary else 0} series "
        f"({summary.first if summary else '-'} .. {summary.last if summary else '-'}, "
        f"{summary.frequency if summary and summary.frequency else 'irregular'}) by {result.draft.generator}"
    )
    ranked = rank_series(result.points, request)
    matching = [key for key, fit in ranked if fit > 0]
    if matching:
        progress(f"series best matching the request: {dict(matching[0])} ({len(ranked)} series in all)")
    if args.plot:
        from shared.cli.plot import plot_points

        drawn = plot_points(result.points, args.plot, title=args.name, unit=args.unit, order=matching)
        progress(f"plotted {drawn} series to {args.plot}")
    if args.out:
        with args.out.open("w", encoding="utf-8", newline="") as handle:
            write_points(result.points, args.format, handle)
        progress(f"wrote {len(result.points)} points to {args.out}")
        return 0
    try:
        write_points(result.points, args.format, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (e.g. `head`) went away: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _explain(source: SourceData, request: IndicatorRequest, *, as_json: bool) -> int:
    """`wrap --explain`: what the heuristic sees in the source, without generating or running a wrapper."""
    doc = explain(build_profile(source), request)
    sys.stdout.write(
        json.dumps(doc, ensure_ascii=False, default=str) + "\n" if as_json else render_explain(doc)
    )
    return 0


def _hand_written(args: argparse.Namespace, hints: LayoutHints) -> str | None:
    """The parse code of `--code FILE`, which runs as written: layout hints would change nothing."""
    if args.code is None:
        return None
    if hints.given():
        given = ", ".join(f"--{name.replace('_', '-')}" for name in hints.given())
        raise HintError(
            f"{given} cannot be used with --code: hints steer generated code, yours runs as written"
        )
    return str(args.code.read_text(encoding="utf-8"))


def _describe(result: WrapResult) -> str:
    return (
        f"# generator: {result.draft.generator}\n# rationale: {result.draft.rationale}\n"
        f"# fetch spec: {result.draft.fetch_spec.model_dump_json(exclude_defaults=True)}\n"
        f"{result.draft.parse_code}"
    )


def _fail(message: str, code: int) -> int:
    print(f"resource-service: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def write_points(points: Sequence[Point], fmt: str, out: TextIO) -> None:
    """Write points as JSON lines, CSV or an aligned table, a chunk of texts at a time."""
    columns = point_columns(points)
    if fmt == "jsonl":
        for chunk in columns.chunks(TEXT_CHUNK):
            out.write(json_lines(chunk))
        return
    names = dimension_names(columns)
    header = ["timestamp", "value", *names]
    if fmt == "csv":
        csv.writer(out).writerow(header)
        for chunk in columns.chunks(TEXT_CHUNK):
            out.write(csv_lines(chunk, names))
        return
    # A table's widths are its longest cells: one pass measures them, the next writes the rows.
    widths = [len(name) for name in header]
    for chunk in columns.chunks(TEXT_CHUNK):
        widths = [max(pair) for pair in zip(widths, cell_widths(chunk, names), strict=True)]
    out.write(
        "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip() + "\n"
    )
    for chunk in columns.chunks(TEXT_CHUNK):
        out.write(table_lines(chunk, names, widths))


if __name__ == "__main__":
    sys.exit(main())
