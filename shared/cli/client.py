"""The command line's HTTP client of the service's API: where it is, the key, and failures as one sentence."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.common.errors import ServiceClientError
from shared.common.settings import Settings

DEFAULT_CONFIG = Path("~/.config/resource-service/config.toml")
USER_AGENT = "resource-service-cli/0.1"

EXIT_API = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 6
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class ClientConfig:
    """Where the API is, the key to call it with, and how long one call may take."""

    api_url: str
    api_key: str
    timeout_seconds: float


def client_options() -> argparse.ArgumentParser:
    """The options every service command takes (a parent parser)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--api",
        metavar="URL",
        help="the service's API, e.g. https://abc.execute-api.eu-central-1.amazonaws.com "
        "(default: RS_API_URL, then api_url in the config file)",
    )
    options.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"TOML file with api_url and api_key (default: {DEFAULT_CONFIG})",
    )
    options.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    return options


def load_config(*, api_url: str | None, config_path: Path | None, settings: Settings) -> ClientConfig:
    """The URL from --api, else RS_API_URL, else the config file; the key from RS_API_KEY, else the file."""
    path = (config_path or DEFAULT_CONFIG).expanduser()
    stored = _read_config_file(path, required=config_path is not None)
    url = api_url or settings.api_url or stored.get("api_url")
    key = settings.api_key.get_secret_value() if settings.api_key else stored.get("api_key")
    if not url:
        raise ServiceClientError(f"no API URL: give --api URL, set RS_API_URL or api_url in {path}")
    if not key:
        raise ServiceClientError(
            f"no API key: set RS_API_KEY or api_key in {path} (`resource-service api-key create` makes one)"
        )
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServiceClientError(f"the API URL must be http(s)://host[:port][/stage], not {url!r}")
    return ClientConfig(
        api_url=url.strip().rstrip("/"), api_key=key.strip(), timeout_seconds=settings.api_timeout_seconds
    )


def _read_config_file(path: Path, *, required: bool) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ServiceClientError(f"config file {path} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceClientError(f"cannot read config file {path}: {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ServiceClientError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, str] = {}
    for name in ("api_url", "api_key"):
        value = document.get(name)
        if value is not None and not isinstance(value, str):
            raise ServiceClientError(f"config file {path}: {name} must be a string")
        if value:
            values[name] = value
    return values


class ServiceClient:
    """Calls the API with the configured key; every failure is a `ServiceClientError` with one sentence."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` and return its JSON."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None) -> Any:
        """POST `body` as JSON to `path` and return the answer's JSON."""
        return self.request("POST", path, body=body, headers=headers)

    def delete(self, path: str) -> None:
        """DELETE `path`."""
        self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One call; the answer's JSON (None when it has no body)."""
        query = {name: value for name, value in (params or {}).items() if value is not None}
        url = self.config.api_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        # The scheme was checked in load_config: http(s) only.
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.config.api_key}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise ServiceClientError(_refusal(error), status=error.code) from None
        except TimeoutError:
            raise ServiceClientError(self._late()) from None
        except urllib.error.URLError as error:
            raise ServiceClientError(self._unreachable(error.reason)) from None
        except (http.client.HTTPException, OSError) as error:
            raise ServiceClientError(self._unreachable(error)) from None
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            raise ServiceClientError(
                f"the API at {self.config.api_url} answered {method} {path} with something that is not "
                "JSON: is --api the service's address?"
            ) from None

    def _late(self) -> str:
        return f"the API at {self.config.api_url} did not answer within {self.config.timeout_seconds:g} s"

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, TimeoutError):
            return self._late()
        if isinstance(reason, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(reason, socket.gaierror):
            why = "unknown host"
        elif isinstance(reason, http.client.RemoteDisconnected | ConnectionResetError):
            why = "the connection was closed before an answer"
        else:
            why = str(reason) or type(reason).__name__
        return f"cannot reach the API at {self.config.api_url}: {why}"


def _refusal(error: urllib.error.HTTPError) -> str:
    """The API's own reason for a 4xx/5xx answer, in one sentence."""
    try:
        document = json.loads(error.read() or b"null")
    except (ValueError, OSError):
        document = None
    reason = _reason_of(document) or error.reason or "no reason given"
    if error.code == 401:
        return f"the API refused the key (401): {reason}; check RS_API_KEY or api_key in the config file"
    return f"the API answered {error.code}: {reason}"


def _reason_of(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    if isinstance(error, dict) and error.get("message"):
        details = [
            f"{d.get('field')}: {d.get('reason')}" if d.get("field") else str(d.get("reason"))
            for d in error.get("details") or []
            if isinstance(d, dict)
        ]
        return str(error["message"]) + (f" ({'; '.join(details)})" if details else "")
    detail = document.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" if isinstance(d, dict) else str(d)
            for d in detail
        )
    return None


def run_with_client(
    args: argparse.Namespace, command: Callable[[ServiceClient, argparse.Namespace], int]
) -> int:
    """Run a service command: a failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        config = load_config(api_url=args.api, config_path=args.config, settings=Settings())
    except ServiceClientError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ValidationError as exc:
        first = exc.errors()[0]
        return fail(
            f"invalid setting RS_{'_'.join(map(str, first['loc'])).upper()}: {first['msg']}", EXIT_USAGE
        )
    try:
        code = command(ServiceClient(config), args)
        sys.stdout.flush()
    except ServiceClientError as exc:
        return fail(str(exc), EXIT_API if exc.status is not None else EXIT_UNREACHABLE)
    except BrokenPipeError:
        # The reader (e.g. `head`) went away: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        # Ctrl-C while waiting: what was created stays; say so rather than print a traceback.
        return fail("interrupted; what the API already did stays done", EXIT_INTERRUPTED)
    return code


def fail(message: str, code: int) -> int:
    """Print `message` as one line on stderr; return the exit code."""
    print(f"resource-service: error: {' '.join(message.split())}", file=sys.stderr)
    return code
