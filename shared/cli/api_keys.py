"""The `resource-service api-key` sub-commands: create a key for a tenant (the secret is shown once)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pymongo.errors import PyMongoError

from shared.common.errors import ResourceServiceError
from shared.common.settings import get_settings
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database

EXIT_UNAVAILABLE = 6


def add_api_key_commands(subparsers: Any) -> None:
    """Add `api-key create --tenant T [--name N]` to the command line's sub-parsers."""
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


def run_api_key(args: argparse.Namespace) -> int:
    """`resource-service api-key …`: print the new key; a one-line reason and a non-zero exit on failure."""
    tenant = args.tenant.strip()
    if not tenant:
        print("error: --tenant must not be empty", file=sys.stderr)
        return 2
    try:
        db = get_database(get_settings())
        record, secret = ApiKeyRepository(db).create(tenant, name=args.name)
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
