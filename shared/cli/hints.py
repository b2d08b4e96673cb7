"""Layout hints as command-line flags (`--sheet`, `--where DIM=VALUE`…), and what `wrap` says when unsure."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from shared.common.errors import HintError
from shared.domain.wrapper import Inference, LayoutHints, hint_problems

# The alternatives an "unsure" message names; more would bury the choice.
SHOWN_ALTERNATIVES = 2


def add_hint_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that override what layout inference would pick."""
    group = parser.add_argument_group("layout hints (override inference)")
    group.add_argument("--sheet", help="the workbook sheet to read")
    group.add_argument(
        "--header-rows", metavar="ROWS", help="0-based rows of the grid holding the header, e.g. 3 or 3,4"
    )
    group.add_argument("--time-column", metavar="NAME", help="the column holding the periods")
    group.add_argument("--value-column", metavar="NAME", help="the column (or row label) holding the values")
    group.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="DIM=VALUE",
        help="keep only the series whose dimension DIM is VALUE (repeatable)",
    )
    group.add_argument("--timezone", metavar="ZONE", help="IANA zone of clock times without a UTC offset")
    group.add_argument("--decimal", metavar="MARK", help="the decimal mark of the numbers: . or ,")
    group.add_argument("--encoding", help="the text encoding of a CSV or JSON source, e.g. cp1250")


def hints_from_arguments(args: argparse.Namespace) -> LayoutHints:
    """The hints given as flags; HintError names the flag and what is wrong with it."""
    values: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("sheet", "time_column", "value_column", "timezone", "decimal", "encoding")
        if getattr(args, name) is not None
    }
    if args.header_rows is not None:
        try:
            values["header_rows"] = [int(part) for part in args.header_rows.split(",")]
        except ValueError:
            raise HintError(
                f"--header-rows {args.header_rows!r}: expected 0-based rows separated by commas, e.g. 3,4"
            ) from None
    where: dict[str, str] = {}
    for item in args.where:
        name, equals, wanted = item.partition("=")
        if not equals:
            raise HintError(f"--where {item!r}: expected DIM=VALUE, e.g. --where geo=DE")
        where[name.strip()] = wanted.strip()
    if where:
        values["where"] = where
    problems = hint_problems(values)
    if problems:
        raise HintError(
            "; ".join(f"--{name.split('.')[0].replace('_', '-')}: {reason}" for name, reason in problems)
        )
    return LayoutHints.model_validate(values)


def flag_text(hint: dict[str, str]) -> str:
    """A hint as the flags that give it, e.g. `--value-column 'Trend (ppm)'`."""
    return " ".join(f"--{name.replace('_', '-')} {shlex.quote(value)}" for name, value in hint.items())


def unsure_lines(inference: Inference | None) -> list[str]:
    """What `wrap` warns about on stderr: rejected candidates, and the close alternatives when unsure."""
    if inference is None:
        return []
    lines = [f"warning: {warning}" for warning in inference.warnings]
    if inference.unsure():
        also = "; ".join(
            f"also possible {alternative.label} ({alternative.reason})"
            + (f", pick with {flag_text(alternative.hint)}" if alternative.hint else "")
            for alternative in inference.alternatives[:SHOWN_ALTERNATIVES]
        )
        lines.append(f"unsure (confidence {inference.confidence:.2f}, chose {inference.chosen}): {also}")
    return lines
