"""`resource-service resources …`: create, list, show and delete resources and read their points."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, TextIO
from urllib.parse import urlsplit

from shared.cli.client import ServiceClient, client_options, fail, run_with_client
from shared.cli.tables import Column, short_time, write_fields, write_table
from shared.cli.wrappers import EXIT_NOT_READY, EXIT_WAIT_TIMEOUT, WrapperWait, wait_until_ready

SOURCE_TYPES = ("api", "csv", "xlsx")
SUFFIX_TYPES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".json": "api"}
PAGE_SIZE = 1000
WRAPPER_PAGE = 100
WAIT_SECONDS = 600.0


def add_resource_commands(subparsers: Any) -> None:
    """Add `resources create|list|show|delete|points` to the command line's sub-parsers."""
    options = client_options()
    resources = subparsers.add_parser(
        "resources",
        help="create, list, show and delete resources on the service; read their points",
        description="Resources on the service's API (--api, RS_API_URL or the config file; key from "
        "RS_API_KEY or the config file).",
    )
    commands = resources.add_subparsers(dest="resources_command", required=True)

    create = commands.add_parser(
        "create", parents=[options], help="create a resource; its wrapper is generated and validated"
    )
    create.add_argument("--name", required=True, help="indicator name, e.g. 'CO2 emissions per capita'")
    create.add_argument("--url", required=True, help="the source: http(s):// URL or s3://bucket/key")
    create.add_argument(
        "--source-type", choices=SOURCE_TYPES, help="api, csv or xlsx (default: from the URL's file suffix)"
    )
    create.add_argument("--type", default="indicator", help="the resource's type (default: indicator)")
    create.add_argument("--unit", default="", help="unit of the values, e.g. 't/capita'")
    create.add_argument("--description", default="", help="what the indicator measures")
    create.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a layout hint of source.options (VALUE as JSON when it parses, e.g. header_rows=[3,4]); "
        "repeatable",
    )
    create.add_argument(
        "--where", action="append", default=[], metavar="DIM=VALUE", help="keep only this series; repeatable"
    )
    schedule = create.add_mutually_exclusive_group()
    schedule.add_argument("--rate-seconds", type=int, help="run every N seconds (at least 60)")
    schedule.add_argument("--cron", help="run on this 5-field cron expression (UTC)")
    create.add_argument(
        "--idempotency-key", help="send this Idempotency-Key, so a retried create returns the first result"
    )
    create.add_argument("--wait", action="store_true", help="wait until the wrapper is ready or failed")
    create.add_argument(
        "--timeout",
        type=float,
        default=WAIT_SECONDS,
        help=f"seconds --wait waits (default: {WAIT_SECONDS:g})",
    )
    create.set_defaults(run=_create)

    listing = commands.add_parser("list", parents=[options], help="list resources, newest first")
    listing.add_argument("--name", help="only names containing this")
    listing.add_argument("--type", help="only this type")
    listing.add_argument("--source-type", choices=SOURCE_TYPES, help="only this source type")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many (default: 0)")
    listing.set_defaults(run=_list)

    show = commands.add_parser("show", parents=[options], help="a resource, its wrapper's status and data")
    show.add_argument("resource_id")
    show.set_defaults(run=_show)

    delete = commands.add_parser("delete", parents=[options], help="delete a resource (its wrapper stops)")
    delete.add_argument("resource_id")
    delete.set_defaults(run=_delete)

    points = commands.add_parser(
        "points", parents=[options], help="a resource's points, oldest first, every page of them"
    )
    points.add_argument("resource_id")
    points.add_argument("--from", dest="start", type=_iso_time, metavar="TIME", help="inclusive, ISO 8601")
    points.add_argument("--to", dest="end", type=_iso_time, metavar="TIME", help="exclusive, ISO 8601")
    points.add_argument(
        "--dimension",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="only points whose dimension NAME is VALUE (case-blind); repeatable",
    )
    points.add_argument(
        "--format", choices=("table", "jsonl", "csv"), default="table", help="default: table (--json: jsonl)"
    )
    points.add_argument("--limit", type=int, help="stop after this many points")
    points.add_argument("--offset", type=int, default=0, help="skip this many stored points first")
    points.add_argument(
        "--page-size", type=int, default=PAGE_SIZE, help=f"points per request (default: {PAGE_SIZE})"
    )
    points.set_defaults(run=_points)


def run_resources(args: argparse.Namespace) -> int:
    """`resource-service resources …`: one line on stderr and a non-zero exit on failure."""
    return run_with_client(args, args.run)


def _iso_time(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return text


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{flag} takes NAME=VALUE, not {value!r}")
        pairs[name.strip()] = rest
    return pairs


def _source_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, text in _pairs(args.option, "--option").items():
        try:
            options[name] = json.loads(text)
        except ValueError:
            options[name] = text
    where = _pairs(args.where, "--where")
    if where:
        options["where"] = {**options.get("where", {}), **where}
    return options


def _source_type(args: argparse.Namespace) -> str:
    if args.source_type:
        return str(args.source_type)
    suffix = PurePosixPath(urlsplit(args.url).path).suffix.lower()
    if suffix not in SUFFIX_TYPES:
        raise ValueError(f"cannot tell the source type from {args.url!r}: give --source-type api|csv|xlsx")
    return SUFFIX_TYPES[suffix]


def _create(client: ServiceClient, args: argparse.Namespace) -> int:
    try:
        body: dict[str, Any] = {
            "name": args.name,
            "type": args.type,
            "unit": args.unit,
            "description": args.description,
            "source": {"type": _source_type(args), "url": args.url, "options": _source_options(args)},
        }
    except ValueError as exc:
        return fail(str(exc), 2)
    if args.rate_seconds is not None or args.cron is not None:
        body["schedule"] = {"rate_seconds": args.rate_seconds} if args.cron is None else {"cron": args.cron}
    # A retried create must not make a second resource: the key is sent even when none was given.
    headers = {"Idempotency-Key": args.idempotency_key or uuid.uuid4().hex}
    resource = client.post("/resources", body, headers=headers)
    if args.json:
        print(json.dumps(resource, ensure_ascii=False))
    else:
        _write_resource(resource, None, None, sys.stdout)
    if not args.wait:
        return 0
    outcome = wait_until_ready(client, resource["wrapper_id"], timeout=args.timeout, progress=_progress())
    return _wait_exit(outcome)


def _progress() -> Any:
    started = time.monotonic()

    def report(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    return report


def _wait_exit(outcome: WrapperWait) -> int:
    if outcome.timed_out:
        return fail(
            f"wrapper {outcome.wrapper_id} is still {outcome.status} after {outcome.waited:.0f} s; follow it "
            f"with `resource-service wrappers show {outcome.wrapper_id}`",
            EXIT_WAIT_TIMEOUT,
        )
    if not outcome.ready:
        return fail(
            f"wrapper {outcome.wrapper_id} {outcome.status}: {outcome.reason or 'no reason given'}",
            EXIT_NOT_READY,
        )
    return 0


def _list(client: ServiceClient, args: argparse.Namespace) -> int:
    page = client.get(
        "/resources",
        params={
            "name": args.name,
            "type": args.type,
            "source_type": args.source_type,
            "limit": args.limit,
            "offset": args.offset,
        },
    )
    if args.json:
        print(json.dumps(page, ensure_ascii=False))
        return 0
    items = page["items"]
    statuses = _wrapper_statuses(client, {item["wrapper_id"] for item in items})
    columns: list[Column] = [
        ("ID", lambda r: r["id"]),
        ("NAME", lambda r: r["name"]),
        ("SOURCE", lambda r: r["source"]["type"]),
        ("STATUS", lambda r: statuses.get(r["wrapper_id"])),
        ("UNIT", lambda r: r["unit"]),
        ("FIRST", lambda r: short_time(r.get("startPeriod"))),
        ("LAST", lambda r: short_time(r.get("endPeriod"))),
        ("CREATED", lambda r: short_time(r["created_at"])),
    ]
    write_table(items, columns, sys.stdout)
    shown = f"{page['offset'] + 1}–{page['offset'] + len(items)}" if items else "none"
    more = page["offset"] + len(items) < page["total"]
    print(
        f"{shown} of {page['total']} resources"
        + (f"; --offset {page['offset'] + len(items)} for more" if more else ""),
        file=sys.stderr,
    )
    return 0


def _wrapper_statuses(client: ServiceClient, wrapper_ids: set[str]) -> dict[str, str]:
    """The status of each wrapper, from the wrapper listing (a few calls, not one per resource)."""
    statuses: dict[str, str] = {}
    offset = 0
    while wrapper_ids - statuses.keys():
        page = client.get("/wrappers", params={"limit": WRAPPER_PAGE, "offset": offset})
        statuses.update(
            {w["wrapper_id"]: w["status"] for w in page["items"] if w["wrapper_id"] in wrapper_ids}
        )
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            break
    return statuses


def _show(client: ServiceClient, args: argparse.Namespace) -> int:
    resource = client.get(f"/resources/{_segment(args.resource_id)}")
    wrapper = client.get(f"/wrappers/{_segment(resource['wrapper_id'])}")
    availability = client.get(f"/resources/{_segment(resource['id'])}/availability")
    if args.json:
        print(
            json.dumps(
                {"resource": resource, "wrapper": wrapper, "availability": availability}, ensure_ascii=False
            )
        )
    else:
        _write_resource(resource, wrapper, availability, sys.stdout)
    return 0


def _write_resource(
    resource: dict[str, Any], wrapper: dict[str, Any] | None, availability: dict[str, Any] | None, out: TextIO
) -> None:
    source = resource["source"]
    schedule = resource.get("schedule") or {}
    fields: list[tuple[str, object]] = [
        ("id", resource["id"]),
        ("name", resource["name"]),
        ("type", resource["type"]),
        ("unit", resource["unit"]),
        ("description", resource["description"]),
        ("source", f"{source['type']} {source['url']}"),
    ]
    if source.get("options"):
        fields.append(("options", json.dumps(source["options"], ensure_ascii=False)))
    if schedule:
        fields.append(
            (
                "schedule",
                f"cron {schedule['cron']}" if schedule.get("cron") else f"every {schedule['rate_seconds']} s",
            )
        )
    fields.append(("wrapper", resource["wrapper_id"]))
    if wrapper is not None:
        status = wrapper["status"] + (
            f" ({wrapper['status_reason']})" if wrapper.get("status_reason") else ""
        )
        fields += [("status", status), ("generator", wrapper.get("generator"))]
    if availability is not None:
        count = availability["count"]
        span = f", {short_time(availability['first'])} .. {short_time(availability['last'])}" if count else ""
        fields.append(("points", f"{count}{span}"))
    fields += [
        ("created", short_time(resource["created_at"])),
        ("updated", short_time(resource["updated_at"])),
    ]
    write_fields(fields, out)


def _delete(client: ServiceClient, args: argparse.Namespace) -> int:
    client.delete(f"/resources/{_segment(args.resource_id)}")
    if args.json:
        print(json.dumps({"id": args.resource_id, "deleted": True}))
    else:
        print(f"deleted resource {args.resource_id}; its wrapper is stopped", file=sys.stderr)
    return 0


def _points(client: ServiceClient, args: argparse.Namespace) -> int:
    try:
        wanted = {
            name.casefold(): value.casefold() for name, value in _pairs(args.dimension, "--dimension").items()
        }
    except ValueError as exc:
        return fail(str(exc), 2)
    for flag, value, least in (
        ("--page-size", args.page_size, 1),
        ("--offset", args.offset, 0),
        ("--limit", args.limit, 0),
    ):
        if value is not None and value < least:
            return fail(f"{flag} must be at least {least}", 2)
    pages = _read_points(client, args, wanted)
    fmt = "jsonl" if args.json else args.format
    count = 0
    if fmt == "jsonl":
        for batch in pages:
            sys.stdout.write("".join(json.dumps(point, ensure_ascii=False) + "\n" for point in batch))
            count += len(batch)
    else:
        collected = [point for batch in pages for point in batch]
        count = len(collected)
        _write_points(collected, fmt, sys.stdout)
    print(f"{count} point{'' if count == 1 else 's'}", file=sys.stderr)
    return 0


def _read_points(
    client: ServiceClient, args: argparse.Namespace, wanted: dict[str, str]
) -> Iterator[list[dict[str, Any]]]:
    """Every point of the window that has the wanted dimension values, a page at a time."""
    offset, left = args.offset, args.limit
    path = f"/resources/{_segment(args.resource_id)}/points"
    while left is None or left > 0:
        page = client.get(
            path, params={"start": args.start, "end": args.end, "limit": args.page_size, "offset": offset}
        )
        batch = [point for point in page["items"] if _has(point, wanted)]
        if left is not None:
            batch, left = batch[:left], left - min(left, len(batch))
        yield batch
        if page.get("next_offset") is None:
            return
        offset = page["next_offset"]


def _has(point: dict[str, Any], wanted: dict[str, str]) -> bool:
    dimensions = {name.casefold(): value.casefold() for name, value in point["dimensions"].items()}
    return all(dimensions.get(name) == value for name, value in wanted.items())


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _write_points(points: list[dict[str, Any]], fmt: str, out: TextIO) -> None:
    names = sorted({name for point in points for name in point["dimensions"]})
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["timestamp", "value", *names])
        for point in points:
            writer.writerow(
                [
                    point["timestamp"],
                    _number(point["value"]),
                    *(point["dimensions"].get(n, "") for n in names),
                ]
            )
        return
    columns: list[Column] = [
        ("timestamp", lambda p: p["timestamp"]),
        ("value", lambda p: _number(p["value"])),
    ]
    columns += [(name, _dimension(name)) for name in names]
    write_table(points, columns, out)


def _dimension(name: str) -> Callable[[dict[str, Any]], object]:
    return lambda point: point["dimensions"].get(name)


def _segment(value: str) -> str:
    """An id as one path segment (an id with a slash must not reach another route)."""
    from urllib.parse import quote

    return quote(value, safe="")
