"""The trusted HTTP fetcher: public addresses only, every redirect re-checked, bytes and time capped."""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit, urlunsplit

from pydantic import BaseModel, Field

from shared.common.addresses import IPAddress, public_address
from shared.common.errors import SourceError
from shared.common.settings import Settings

REDIRECTS = {301, 302, 303, 307, 308}


class FetchedResponse(BaseModel):
    """Bytes fetched from a URL, with the final URL after redirects."""

    url: str
    status: int
    content_type: str
    content: bytes
    link: str = ""
    headers: dict[str, str] = Field(default_factory=dict, description="response headers, names lower-cased")


class _Watchdog:
    """Shuts a connection down at the deadline: socket timeouts alone let a slow drip run forever."""

    def __init__(self, seconds: float) -> None:
        self.fired = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Watch a freshly connected socket (the connection may drop its own reference to it later)."""
        with self._lock:
            self._sock = sock
            if self.fired.is_set():
                _shut_down(sock)

    def cancel(self) -> None:
        """Stop the timer once the request is over."""
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired.set()
            if self._sock is not None:
                _shut_down(self._sock)


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP connection to an already checked address (no second DNS lookup to rebind)."""

    def __init__(
        self, host: str, port: int, *, address: IPAddress, timeout: float, watchdog: _Watchdog
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = str(address)
        self._watchdog = watchdog

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self._watchdog.watch(self.sock)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS connection to an already checked address, verifying the certificate for the host name."""

    def __init__(
        self, host: str, port: int, *, address: IPAddress, timeout: float, watchdog: _Watchdog
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = str(address)
        self._watchdog = watchdog

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        # Watched before the handshake, so a server stalling the handshake is cut too.
        self._watchdog.watch(raw)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch_url(
    url: str,
    *,
    settings: Settings,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
) -> FetchedResponse:
    """GET a URL through the SSRF checks, following at most `fetch_max_redirects` redirects."""
    limit = max_bytes or settings.fetch_max_bytes
    deadline = time.monotonic() + settings.fetch_timeout_seconds
    timed_out = f"timed out after {settings.fetch_timeout_seconds:g} s fetching {url}"
    if params:
        url = _with_params(url, params)
    first = urlsplit(url)
    for _hop in range(settings.fetch_max_redirects + 1):
        parts, host, port, address = public_address(url, settings=settings)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceError(timed_out)
        # Caller headers may hold secrets: a redirect to another host or down to http must not receive them.
        extra_headers = headers if _keeps_headers(first, parts) else None
        request_headers = {
            "User-Agent": settings.fetch_user_agent,
            "Accept-Encoding": "identity",
            **(extra_headers or {}),
        }
        conn_cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        watchdog = _Watchdog(remaining)
        connection = conn_cls(host, port, address=address, timeout=remaining, watchdog=watchdog)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", target, headers=request_headers)
            response = connection.getresponse()
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                response.close()
                if not location:
                    raise SourceError(f"redirect {response.status} from {parts.hostname} without a Location")
                url = urljoin(url, location)
                continue
            if response.status >= 400:
                raise SourceError(f"HTTP {response.status} {response.reason} from {url}")
            content = _read_capped(response, limit, deadline, url)
            # A shut-down socket reads as a clean end of body; never return it as the whole content.
            if watchdog.fired.is_set():
                raise SourceError(timed_out)
            return FetchedResponse(
                url=url,
                status=response.status,
                content_type=response.getheader("Content-Type") or "",
                content=content,
                link=response.getheader("Link") or "",
                headers={name.lower(): value for name, value in response.getheaders()},
            )
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if watchdog.fired.is_set() or isinstance(exc, TimeoutError):
                raise SourceError(timed_out) from exc
            raise SourceError(f"cannot fetch {url}: {exc}") from exc
        finally:
            watchdog.cancel()
            connection.close()
    raise SourceError(f"more than {settings.fetch_max_redirects} redirects fetching {url}")


def _with_params(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    encoded = urlencode(dict(params))
    return urlunsplit(parts._replace(query=f"{parts.query}&{encoded}" if parts.query else encoded))


def _keeps_headers(first: SplitResult, current: SplitResult) -> bool:
    downgraded = first.scheme == "https" and current.scheme == "http"
    return current.hostname == first.hostname and not downgraded


def _read_capped(response: http.client.HTTPResponse, limit: int, deadline: float, url: str) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise SourceError(f"{url} is {int(declared)} bytes, over the limit of {limit}")
    # A BytesIO hands its buffer over as the bytes: joining a list of chunks held the body twice at the end.
    body = io.BytesIO()
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise SourceError(f"timed out reading {url}")
        chunk = response.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise SourceError(f"{url} exceeds the limit of {limit} bytes")
        body.write(chunk)
    return body.getvalue()
