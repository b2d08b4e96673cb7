"""The service client's configuration (flag, environment, file) and its error sentences."""

from __future__ import annotations

import io
import urllib.error
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.cli.client import _refusal, load_config
from shared.cli.main import main
from shared.common.errors import ServiceClientError
from shared.common.settings import Settings


def settings(**values: Any) -> Settings:
    """Settings as the environment would give them (nothing read from the real environment)."""
    return Settings.model_construct(
        **{"api_url": None, "api_key": None, "api_timeout_seconds": 30.0, **values}
    )


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flag_beats_environment_beats_config_file_for_the_url(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'api_url = "http://file.example:1"\napi_key = "rs_file"\n')
    from_file = load_config(api_url=None, config_path=path, settings=settings())
    from_env = load_config(api_url=None, config_path=path, settings=settings(api_url="http://env.example:2/"))
    from_flag = load_config(
        api_url="http://flag.example:3", config_path=path, settings=settings(api_url="http://env.example:2")
    )
    assert (from_file.api_url, from_env.api_url, from_flag.api_url) == (
        "http://file.example:1",
        "http://env.example:2",
        "http://flag.example:3",
    )


def test_environment_key_beats_the_config_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'api_url = "http://x.example"\napi_key = "rs_file"\n')
    assert load_config(api_url=None, config_path=path, settings=settings()).api_key == "rs_file"
    env = settings(api_key=SecretStr("rs_env"))
    assert load_config(api_url=None, config_path=path, settings=env).api_key == "rs_env"


def test_missing_key_names_both_places_to_put_one(tmp_path: Path) -> None:
    with pytest.raises(ServiceClientError, match=r"no API key: set RS_API_KEY or api_key in .*config\.toml"):
        load_config(api_url="http://x.example", config_path=None, settings=settings())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("api_url = [", "is not valid TOML"),
        ("api_url = 3", "api_url must be a string"),
        ('api_url = "ftp://x"\napi_key = "k"', r"must be http\(s\)://"),
    ],
)
def test_bad_config_files_are_refused_with_a_reason(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(ServiceClientError, match=reason):
        load_config(api_url=None, config_path=config_file(tmp_path, text), settings=settings())


def test_a_config_file_given_by_flag_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ServiceClientError, match="does not exist"):
        load_config(api_url="http://x.example", config_path=tmp_path / "nope.toml", settings=settings())


def http_error(status: int, body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://x/resources", status, "Reason", Message(), io.BytesIO(body))


def test_refusals_quote_the_api_message_and_its_details() -> None:
    body = (
        b'{"error": {"code": "validation_error", "message": "the request is not valid", "details": '
        b'[{"field": "body.source.url", "reason": "must be http(s)"}]}}'
    )
    assert _refusal(http_error(422, body)) == (
        "the API answered 422: the request is not valid (body.source.url: must be http(s))"
    )
    assert _refusal(http_error(404, b'{"detail": "Not Found"}')) == "the API answered 404: Not Found"
    assert _refusal(http_error(502, b"<html>bad gateway</html>")) == "the API answered 502: Reason"
    assert "check RS_API_KEY" in _refusal(
        http_error(401, b'{"error": {"message": "the API key is not valid"}}')
    )


def test_missing_configuration_is_one_line_and_a_usage_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RS_API_KEY", raising=False)
    monkeypatch.delenv("RS_API_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["resources", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("resource-service: error: no API URL")
