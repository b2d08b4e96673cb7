"""Schemathesis hooks of the contract fuzz (loaded by schemathesis in its own venv, not by pytest).

The fuzzer treats every request valid by the schema as one the API must accept. A few rules cannot be
said in JSON Schema; the positive cases that break only them are left out here, each by the service's
own rule, so that everything else is held to the schema:
- an Idempotency-Key names one request: reused with another body the API answers 422 (as the IETF
  Idempotency-Key draft asks), and the fuzzer's keys repeat (`0`, `00`…), so each case gets a fresh one;
- a backfill cannot start in the future (it depends on the clock);
- a cron range must not run backwards and a day of month must exist in one of the months (the schema's
  pattern states the syntax and each field's range; `parse_cron` decides the rest);
- a fetch spec's location must be reachable and allowed when it is given: an http(s) host that resolves
  to a public address (DNS and the SSRF rule; the fuzz has no DNS, so only public IP literals are
  kept), or an s3:// object the tenant uploaded (state, not syntax).
"""

from __future__ import annotations

import ipaddress
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import schemathesis

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `shared.domain.schedule` is stdlib only

from shared.domain.schedule import parse_cron

HEADER = "Idempotency-Key"


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and bool(meta.generation.mode.is_positive)


def _future(value: Any) -> bool:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment > datetime.now(UTC)
    except OverflowError:
        return False


def _bad_cron(body: Any) -> bool:
    schedule = body.get("schedule") if isinstance(body, dict) else None
    cron = schedule.get("cron") if isinstance(schedule, dict) else None
    if not isinstance(cron, str):
        return False
    try:
        parse_cron(cron)
    except ValueError:
        return True
    return False


def _unreachable_location(body: Any) -> bool:
    location = body.get("location") if isinstance(body, dict) else None
    if not isinstance(location, str):
        return False
    try:
        address = ipaddress.ip_address(urlsplit(location).hostname or "")
    except ValueError:
        return True  # a host name (needs DNS), an s3:// object (needs an upload) or no host at all
    return not address.is_global


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Leave out the positive cases that break only a rule the schema cannot state."""
    if not _positive(case):
        return True
    body = case.body if isinstance(case.body, dict) else {}
    if case.operation.path.endswith("/backfill") and _future(body.get("start")):
        return False
    if case.operation.path.endswith("/fetch-spec") and _unreachable_location(body):
        return False
    return not _bad_cron(body)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Give a case's valid Idempotency-Key a value no other case has (an invalid one stays as it is)."""
    headers = case.headers or {}
    value = headers.get(HEADER)
    if isinstance(value, str) and 1 <= len(value) <= 255:
        headers[HEADER] = uuid.uuid4().hex
    return case
