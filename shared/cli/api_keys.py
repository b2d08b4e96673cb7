"""The `resource-service api-key` sub-commands: create (the secret is shown once), list and revoke keys."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from shared.common.errors import ResourceServiceError
from shared.common.settings import get_settings
from shared.domain.models import ApiKeyPublic
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database

EXIT_USAGE = 2
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 6
LIST_COLUMNS = ("key_id", "prefix", "tenant", "name", "created", "last_used", "revoked")


def add_api_key_commands(subparsers: Any) -> None:
    """Add `api-key create|list|revoke` to the command line's sub-parsers."""
    api_key = subparsers.add_parser(
        "api-key",
        help="manage API keys",
        description="API keys authenticate calls to the HTTP API; each belongs to one tenant.",
    )
    commands = api_key.add_subparsers(dest="api_key_command", required=True)
    create = commands.add_parser(
        "create",
        help="create a key for a tenant and print it (shown only once)",
        description="Create an API key for TENANT in the configured MongoDB (RS_MONGODB_URI) and print "
        "it on stdout. Only its hash is stored: keep the printed key, it cannot be shown again.",
    )
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create.add_argument("--name", default="default", help="a label for the key (default: default)")
    create.add_argument("--json", action="store_true", help="print the key and its record as JSON")
    listing = commands.add_parser(
        "list",
        help="list keys: id, prefix, tenant, name, created, last used, revoked (never a secret)",
        description="List the API keys in the configured MongoDB. Only a key's first characters "
        "(its prefix) are shown: the secret itself is not stored.",
    )
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="print the records as a JSON array")
    revoke = commands.add_parser(
        "revoke",
        help="revoke a key by its id; the API refuses it from then on",
        description="Revoke the key KEY_ID (see `api-key list`). Every request that looks the key up "
        "is refused at once; a warm API container that authenticated it within the last "
        "RS_API_KEY_CACHE_SECONDS may accept it until that time has passed.",
    )
    revoke.add_argument("key_id", help="the key's id, as `api-key list` shows it")
    revoke.add_argument("--json", action="store_true", help="print the revoked key's record as JSON")


def run_api_key(args: argparse.Namespace) -> int:
    """`resource-service api-key create|list|revoke`; a one-line reason and a non-zero exit on failure."""
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "create": _create,
        "list": _list,
        "revoke": _revoke,
    }
    return commands[args.api_key_command](args)


def _database() -> Database:
    return get_database(get_settings())


def _create(args: argparse.Namespace) -> int:
    tenant = args.tenant.strip()
    if not tenant:
        print("error: --tenant must not be empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        record, secret = ApiKeyRepository(_database()).create(tenant, name=args.name)
    except (PyMongoError, ResourceServiceError) as exc:
        print(f"error: cannot store the key: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.json:
        print(json.dumps({**record.model_dump(mode="json"), "api_key": secret}, indent=2))
    else:
        print(secret)
        print(
            f"created key {record.key_id} ({record.prefix}…) for tenant {record.tenant_id!r}; "
            "it is shown only this once",
            file=sys.stderr,
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    tenant = args.tenant.strip() if args.tenant is not None else None
    if tenant == "":
        print("error: --tenant must not be empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        keys = ApiKeyRepository(_database()).list(tenant_id=tenant)
    except (PyMongoError, ResourceServiceError) as exc:
        print(f"error: cannot read the keys: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.json:
        print(json.dumps([key.model_dump(mode="json") for key in keys], indent=2))
        return 0
    print(render_key_table(keys))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    key_id = args.key_id.strip()
    if not key_id:
        print("error: KEY_ID must not be empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        key = ApiKeyRepository(_database()).revoke(key_id)
    except (PyMongoError, ResourceServiceError) as exc:
        print(f"error: cannot revoke the key: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if key is None:
        print(f"error: no API key with id {key_id!r} (see `resource-service api-key list`)", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.json:
        print(json.dumps(key.model_dump(mode="json"), indent=2))
    print(f"revoked key {key.key_id} ({key.prefix}…) of tenant {key.tenant_id!r}", file=sys.stderr)
    return 0


def _moment(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_key_table(keys: list[ApiKeyPublic]) -> str:
    """The keys as an aligned text table, one per line under a header."""
    rows = [LIST_COLUMNS] + [
        (
            key.key_id,
            key.prefix + "…",
            key.tenant_id,
            key.name,
            _moment(key.created_at),
            _moment(key.last_used_at),
            ("yes " + _moment(key.revoked_at)).removesuffix(" -") if key.revoked else "no",
        )
        for key in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIST_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
