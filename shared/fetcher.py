"""The trusted HTTP fetcher: public addresses only, every redirect re-checked, bytes and time capped."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlencode, urljoin, urlsplit

from pydantic import BaseModel

from shared.errors import SourceError, UnsafeSourceError
from shared.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::/128", "::1/128", "::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
        "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)
REDIRECTS = {301, 302, 303, 307, 308}


class FetchedResponse(BaseModel):
    """Bytes fetched from a URL, with the final URL after redirects."""

    url: str
    status: int
    content_type: str
    content: bytes


def check_address(address: IPAddress, settings: Settings) -> None:
    """Refuse non-public addresses (private, loopback, link-local, metadata, NAT64, 6to4, mapped)."""
    for allowed in settings.fetch_allowed_networks:
        if address in ipaddress.ip_network(allowed, strict=False):
            return
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        raise UnsafeSourceError(f"address {address} embeds IPv4 {embedded}; refusing mapped/translated addresses")
    for network in BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            raise UnsafeSourceError(f"address {address} is not public ({network}); refusing to fetch")
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
    if address in ipaddress.ip_network("64:ff9b::/96") or address in ipaddress.ip_network("64:ff9b:1::/48"):
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
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise SourceError(f"host {host!r} has no address")
    for address in addresses:
        check_address(address, settings)
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP connection to an already checked address (no second DNS lookup to rebind)."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS connection to an already checked address, verifying the certificate for the host name."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = str(address)

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
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
    if params:
        url = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(dict(params))}"
    for _hop in range(settings.fetch_max_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeSourceError(f"scheme {parts.scheme!r} is not allowed; use http or https")
        if parts.username or parts.password:
            raise UnsafeSourceError("credentials in the URL are not allowed; use header secrets")
        if not parts.hostname:
            raise SourceError(f"URL {url!r} has no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve(parts.hostname, port, settings)
        remaining = max(0.1, deadline - time.monotonic())
        conn_cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        connection = conn_cls(parts.hostname, port, address, timeout=remaining)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_headers = {"User-Agent": settings.fetch_user_agent, "Accept-Encoding": "identity", **(headers or {})}
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
            return FetchedResponse(
                url=url, status=response.status, content_type=response.getheader("Content-Type") or "",
                content=content,
            )
        except (TimeoutError, socket.timeout) as exc:
            raise SourceError(f"timed out after {settings.fetch_timeout_seconds:g} s fetching {url}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"cannot fetch {url}: {exc}") from exc
        finally:
            connection.close()
    raise SourceError(f"more than {settings.fetch_max_redirects} redirects fetching {url}")


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
