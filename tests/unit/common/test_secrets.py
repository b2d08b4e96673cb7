"""Secrets come from Secrets Manager when an ARN is configured (moto), never from code."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from shared.common.errors import SecretUnavailableError
from shared.common.secrets import clear_secret_cache, read_secret
from shared.common.settings import Settings
from shared.flows.batch import with_secrets
from shared.store.database import mongodb_uri


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
