"""Secrets from the environment or AWS Secrets Manager; cached for a max age, never logged."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import SecretStr

from shared.common.errors import FetchPlanError, SecretUnavailableError

# How long a warm container trusts a service secret it read (MongoDB URI, broker login, Gemini key) before
# reading it again: a rotated value is picked up within this time (`Settings.service_secret_max_age_seconds`).
DEFAULT_MAX_AGE_SECONDS = 300


def _secret_document(arn: str, *, max_age_seconds: int) -> dict[str, str]:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError

    region = arn.split(":")[3] if arn.startswith("arn:") and arn.count(":") >= 6 else ""
    try:
        text = _provider(region).get(arn, max_age=max_age_seconds)
    except GetParameterError as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        raise SecretUnavailableError(
            f"cannot read secret {arn.rsplit(':', 1)[-1]}: {type(cause).__name__}"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise SecretUnavailableError(
            f"cannot read secret {arn.rsplit(':', 1)[-1]}: {type(exc).__name__}"
        ) from None
    text = text.decode() if isinstance(text, bytes) else str(text or "")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return {"value": text}
    return {str(k): str(v) for k, v in document.items()} if isinstance(document, dict) else {"value": text}


@lru_cache(maxsize=8)
def _provider(region: str) -> Any:
    """One Powertools secrets provider per region (it keeps the values and their ages)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from botocore.config import Config

    return SecretsProvider(boto_config=Config(region_name=region) if region else None)


def read_secret_document(arn: str, *, max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS) -> dict[str, str]:
    """Every field of the JSON secret `arn` (a string secret is {"value": …}), at most this old."""
    return dict(_secret_document(arn, max_age_seconds=max_age_seconds))


def read_secret(arn: str, key: str, *, max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS) -> SecretStr:
    """The field `key` of the JSON secret `arn` (or the whole string secret when key is "value")."""
    document = _secret_document(arn, max_age_seconds=max_age_seconds)
    if key not in document:
        raise SecretUnavailableError(f"secret {arn.rsplit(':', 1)[-1]} has no field {key!r}")
    return SecretStr(document[key])


def clear_secret_cache() -> None:
    """Forget cached secrets (rotation, tests)."""
    _provider.cache_clear()


SECRET_ENV_PREFIX = "RS_SECRET_"  # noqa: S105 - a variable name prefix, not a secret


def secret_env_name(name: str) -> str:
    """The variable holding a named secret: `RS_SECRET_` + the name upper-cased, non-alnum → _."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def read_named_secret(
    name: str, *, prefix: str | None, max_age_seconds: int, environ: Mapping[str, str]
) -> SecretStr:
    """A source credential by name: `RS_SECRET_<NAME>` first, else the secret `prefix + name` in AWS.

    Secrets Manager is read through Powertools Parameters, cached for `max_age_seconds`, so a rotated
    value is picked up within that time. A name found in neither place is a `FetchPlanError` (the wrapper
    cannot run until someone stores it); an AWS fault is transient.
    """
    variable = secret_env_name(name)
    value = environ.get(variable)
    if value:
        return SecretStr(value)
    if not prefix:
        raise FetchPlanError(f"secret {name!r} is not configured (set {variable})")
    return SecretStr(_managed_secret(prefix + name, max_age_seconds=max_age_seconds, variable=variable))


def _managed_secret(path: str, *, max_age_seconds: int, variable: str) -> str:
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = get_secret(path, max_age=max_age_seconds)
    except GetParameterError as exc:
        cause = exc.__cause__ or exc.__context__
        code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
        if code == "ResourceNotFoundException":
            raise FetchPlanError(
                f"secret {path!r} does not exist in Secrets Manager (store it, or set {variable})"
            ) from None
        reason = code or type(cause or exc).__name__
        raise SecretUnavailableError(f"cannot read secret {path!r}: {reason}") from None
    except (BotoCoreError, ClientError) as exc:
        raise SecretUnavailableError(f"cannot read secret {path!r}: {type(exc).__name__}") from None
    text = value.decode() if isinstance(value, bytes) else str(value)
    if not text:
        raise FetchPlanError(f"secret {path!r} is empty")
    return text


def clear_named_secret_cache() -> None:
    """Forget source credentials read from Secrets Manager (rotation, tests)."""
    from aws_lambda_powertools.utilities.parameters import clear_caches

    clear_caches()
