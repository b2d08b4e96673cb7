"""The trusted HTTP fetcher: public addresses only, every redirect re-checked, bytes and time capped."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit, urlunsplit

from pydantic import BaseModel

from shared.common.errors import SourceError, UnsafeSourceError
from shared.common.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "::ffff:0:0:0/96",
        "::/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/32",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
# Only this IPv6 block is global unicast; anything outside it (reserved, SRv6 5f00::/16, …) is refused.
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
NAT64_NETWORKS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
REDIRECTS = {301, 302, 303, 307, 308}


class FetchedResponse(BaseModel):
    """Bytes fetched from a URL, with the final URL after redirects."""

    url: str
    status: int
    content_type: str
    content: bytes
    link: str = ""


def check_address(address: IPAddress, settings: Settings) -> None:
    """Refuse non-public addresses (private, loopback, link-local, metadata, NAT64, 6to4, mapped)."""
    for allowed in settings.fetch_allowed_networks:
        if address in ipaddress.ip_network(allowed, strict=False):
            return
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        raise UnsafeSourceError(
            f"address {address} embeds IPv4 {embedded}; refusing mapped/translated addresses"
        )
    for network in BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            raise UnsafeSourceError(f"address {address} is not public ({network}); refusing to fetch")
    if isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST_V6:
        raise UnsafeSourceError(f"address {address} is not global unicast (2000::/3); refusing to fetch")
    if not address.is_global:
        raise UnsafeSourceError(f"address {address} is not public; refusing to fetch")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in IPV4_TRANSLATED or any(address in network for network in NAT64_NETWORKS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int, settings: Settings) -> IPAddress:
    """Resolve a host name and check every address it resolves to; return the first."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, settings)
        return literal
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SourceError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    except UnicodeError as exc:
        raise SourceError(f"cannot resolve host {host!r}: not a valid host name") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise SourceError(f"host {host!r} has no address")
    for address in addresses:
        check_address(address, settings)
    return addresses[0]


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
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeSourceError(f"scheme {parts.scheme!r} is not allowed; use http or https")
        if parts.username or parts.password:
            raise UnsafeSourceError("credentials in the URL are not allowed; use header secrets")
        if not parts.hostname:
            raise SourceError(f"URL {url!r} has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise SourceError(f"URL {url!r} has an invalid port") from exc
        address = resolve(parts.hostname, port, settings)
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
        connection = conn_cls(parts.hostname, port, address=address, timeout=remaining, watchdog=watchdog)
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
    chunks: list[bytes] = []
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
        chunks.append(chunk)
    return b"".join(chunks)
