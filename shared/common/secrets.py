"""Secrets from the environment or AWS Secrets Manager; cached per process, never logged."""

from __future__ import annotations

import json
from functools import lru_cache

from pydantic import SecretStr

from shared.common.errors import SecretUnavailableError


@lru_cache(maxsize=32)
def _secret_document(arn: str) -> dict[str, str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    region = arn.split(":")[3] if arn.startswith("arn:") and arn.count(":") >= 6 else None
    try:
        response = boto3.client("secretsmanager", region_name=region or None).get_secret_value(SecretId=arn)
    except (ClientError, BotoCoreError) as exc:
        raise SecretUnavailableError(
            f"cannot read secret {arn.rsplit(':', 1)[-1]}: {type(exc).__name__}"
        ) from exc
    text = response.get("SecretString") or ""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return {"value": text}
    return {str(k): str(v) for k, v in document.items()} if isinstance(document, dict) else {"value": text}


def read_secret_document(arn: str) -> dict[str, str]:
    """Every field of the JSON secret `arn` (a string secret is {"value": …})."""
    return dict(_secret_document(arn))


def read_secret(arn: str, key: str) -> SecretStr:
    """The field `key` of the JSON secret `arn` (or the whole string secret when key is "value")."""
    document = _secret_document(arn)
    if key not in document:
        raise SecretUnavailableError(f"secret {arn.rsplit(':', 1)[-1]} has no field {key!r}")
    return SecretStr(document[key])


def clear_secret_cache() -> None:
    """Forget cached secrets (rotation, tests)."""
    _secret_document.cache_clear()
