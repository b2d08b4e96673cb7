"""The SSRF rule: which addresses the trusted fetcher may connect to, and a URL checked against it.

It sits in `common` because the API refuses a non-public fetch spec location before anything is fetched,
and the API may not import the fetcher itself (shared.source.http, which applies the same rule to every
connection and redirect).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

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


def check_public_url(url: str, *, settings: Settings) -> None:
    """Refuse a URL the fetcher would refuse before connecting: scheme, credentials, non-public host."""
    public_address(url, settings=settings)


class PublicTarget(NamedTuple):
    """A URL the fetcher may connect to: its parts, host and port, and the checked address of the host."""

    parts: SplitResult
    host: str
    port: int
    address: IPAddress


def public_address(url: str, *, settings: Settings) -> PublicTarget:
    """The parts, port and checked host address of a URL, or the reason the fetcher must refuse it."""
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
    return PublicTarget(parts, parts.hostname, port, resolve(parts.hostname, port, settings))
