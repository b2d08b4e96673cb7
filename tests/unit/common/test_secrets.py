"""Secrets come from Secrets Manager when an ARN is configured (moto), never from code."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from shared.common.errors import FetchPlanError, SecretUnavailableError
from shared.common.secrets import (
    clear_named_secret_cache,
    clear_secret_cache,
    read_named_secret,
    read_secret,
    secret_env_name,
)
from shared.common.settings import Settings
from shared.flows.batch import with_secrets
from shared.store.database import mongodb_uri

ENVIRON = {"RS_SECRET_EIA_KEY": "from-env"}


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Secrets Manager in moto with a clean cache."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    clear_secret_cache()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-central-1")
    clear_secret_cache()


def test_mongodb_uri_is_read_from_its_secret(secrets_manager: object) -> None:
    arn = secrets_manager.create_secret(  # type: ignore[attr-defined]
        Name="rs/mongodb", SecretString=json.dumps({"uri": "mongodb://user:pw@db.example:27017/"})
    )["ARN"]
    assert mongodb_uri(Settings(mongodb_secret_arn=arn)) == "mongodb://user:pw@db.example:27017/"


def test_gemini_key_is_filled_from_its_secret_and_stays_secret(secrets_manager: object) -> None:
    arn = secrets_manager.create_secret(  # type: ignore[attr-defined]
        Name="rs/gemini", SecretString=json.dumps({"api_key": "AIza-test"})
    )["ARN"]
    settings = with_secrets(Settings(gemini_secret_arn=arn, gemini_api_key=None))
    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.get_secret_value() == "AIza-test"
    assert "AIza-test" not in repr(settings)


def test_missing_secret_raises_without_naming_more_than_its_name(secrets_manager: object) -> None:
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rs/nope-AbCdEf"
    with pytest.raises(SecretUnavailableError, match="cannot read secret rs/nope-AbCdEf"):
        read_secret(arn, "uri")


def test_secret_without_the_field_says_which_field(secrets_manager: object) -> None:
    arn = secrets_manager.create_secret(Name="rs/x", SecretString=json.dumps({"other": "1"}))["ARN"]  # type: ignore[attr-defined]
    with pytest.raises(SecretUnavailableError, match="no field 'uri'"):
        read_secret(arn, "uri")


# --- source credentials by name ----------------------------------------------------------------


@pytest.fixture
def named_secrets(secrets_manager: object) -> Iterator[object]:
    """Secrets Manager in moto with Powertools' parameter cache cleared around the test."""
    clear_named_secret_cache()
    yield secrets_manager
    clear_named_secret_cache()


def test_a_named_secret_comes_from_the_environment_first(named_secrets: object) -> None:
    value = read_named_secret("eia key", prefix="rs/sources/", max_age_seconds=60, environ=ENVIRON)
    assert value.get_secret_value() == "from-env"
    assert secret_env_name("eia-api.key") == "RS_SECRET_EIA_API_KEY"


def test_a_named_secret_comes_from_secrets_manager_under_the_prefix(named_secrets: object) -> None:
    named_secrets.create_secret(Name="rs/sources/eia", SecretString="k-93b1")  # type: ignore[attr-defined]
    value = read_named_secret("eia", prefix="rs/sources/", max_age_seconds=60, environ={})
    assert value.get_secret_value() == "k-93b1" and "k-93b1" not in repr(value)


def test_a_named_secret_is_cached_for_its_max_age(named_secrets: object) -> None:
    client = named_secrets
    client.create_secret(Name="rs/sources/eia", SecretString="first")  # type: ignore[attr-defined]
    read = lambda: read_named_secret("eia", prefix="rs/sources/", max_age_seconds=300, environ={})  # noqa: E731
    assert read().get_secret_value() == "first"
    client.put_secret_value(SecretId="rs/sources/eia", SecretString="rotated")  # type: ignore[attr-defined]
    assert read().get_secret_value() == "first"
    clear_named_secret_cache()
    assert read().get_secret_value() == "rotated"


def test_an_unknown_named_secret_is_a_plan_error_naming_both_places(named_secrets: object) -> None:
    with pytest.raises(FetchPlanError, match=r"rs/sources/nothing.*RS_SECRET_NOTHING"):
        read_named_secret("nothing", prefix="rs/sources/", max_age_seconds=60, environ={})
    with pytest.raises(FetchPlanError, match="set RS_SECRET_NOTHING"):
        read_named_secret("nothing", prefix=None, max_age_seconds=60, environ={})


def test_a_service_secret_is_kept_for_its_max_age_and_a_rotation_seen_after_it(
    secrets_manager: object,
) -> None:
    kept = secrets_manager.create_secret(  # type: ignore[attr-defined]
        Name="rs/kept", SecretString=json.dumps({"uri": "mongodb://old"})
    )["ARN"]
    fresh = secrets_manager.create_secret(  # type: ignore[attr-defined]
        Name="rs/fresh", SecretString=json.dumps({"uri": "mongodb://old"})
    )["ARN"]
    assert read_secret(kept, "uri", max_age_seconds=300).get_secret_value() == "mongodb://old"
    assert read_secret(fresh, "uri", max_age_seconds=0).get_secret_value() == "mongodb://old"
    for arn in (kept, fresh):
        secrets_manager.put_secret_value(SecretId=arn, SecretString=json.dumps({"uri": "mongodb://new"}))  # type: ignore[attr-defined]
    # Within its max age the value read is kept; a value whose max age has passed is read again.
    assert read_secret(kept, "uri", max_age_seconds=300).get_secret_value() == "mongodb://old"
    assert read_secret(fresh, "uri", max_age_seconds=0).get_secret_value() == "mongodb://new"
