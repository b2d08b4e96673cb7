"""SSRF checks of the trusted fetcher: every non-public target is refused before any connection."""

from __future__ import annotations

import ipaddress
import socket
import time
import tracemalloc
from collections.abc import Callable

import pytest

from shared.common.addresses import check_address, resolve
from shared.common.errors import SourceError, UnsafeSourceError
from shared.common.settings import Settings
from shared.source import http as http_module
from shared.source.http import fetch_url

pytestmark = pytest.mark.timeout(30)

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def settings() -> Settings:
    """Production defaults: nothing allowed beyond public addresses."""
    return Settings()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection attempt, and resolve only numeric hosts and localhost (no DNS traffic)."""

    def refuse_connection(*args: object, **kwargs: object) -> socket.socket:
        raise AssertionError(f"the fetcher tried to connect: {args}")

    def local_getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list:
        if host == "localhost":
            return REAL_GETADDRINFO(host, port, type=socket.SOCK_STREAM)
        return REAL_GETADDRINFO(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "create_connection", refuse_connection)
    monkeypatch.setattr(socket, "getaddrinfo", local_getaddrinfo)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], list[str]]:
    """Answer getaddrinfo from a table; returns the list of looked-up names."""
    lookups: list[str] = []

    def install(table: dict[str, list[str]]) -> list[str]:
        def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
            lookups.append(host)
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            infos = []
            for address in table[host]:
                if ":" in address:
                    infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
                else:
                    infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
            return infos

        monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
        return lookups

    return install


def refused(url: str, settings: Settings) -> str:
    """Fetch a URL that must be refused for safety; return the refusal message."""
    with pytest.raises(UnsafeSourceError) as info:
        fetch_url(url, settings=settings)
    return str(info.value)


def test_fetch_refuses_metadata_address(settings: Settings) -> None:
    message = refused("http://169.254.169.254/latest/meta-data/iam/", settings)
    assert "169.254.169.254" in message
    assert "refusing" in message


def test_fetch_refuses_hostname_resolving_to_metadata_address(settings: Settings, fake_dns: Callable) -> None:
    fake_dns({"metadata.example": ["169.254.169.254"]})
    message = refused("http://metadata.example/latest/meta-data/", settings)
    assert "169.254.169.254" in message
    assert "not public" in message


@pytest.mark.parametrize(
    "host", ["10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.254", "192.168.0.1", "192.168.255.254"]
)
def test_fetch_refuses_private_ranges(settings: Settings, host: str) -> None:
    message = refused(f"http://{host}/data.csv", settings)
    assert host in message
    assert "not public" in message


@pytest.mark.parametrize("host", ["100.64.0.1", "192.0.0.8", "198.18.0.1", "224.0.0.1", "255.255.255.255"])
def test_fetch_refuses_special_purpose_ipv4(settings: Settings, host: str) -> None:
    assert "not public" in refused(f"http://{host}/", settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "127.1"])
def test_fetch_refuses_loopback(settings: Settings, host: str) -> None:
    assert "not public" in refused(f"http://{host}:8080/", settings)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "017700000001"])
def test_fetch_refuses_loopback_in_decimal_hex_and_octal_form(settings: Settings, host: str) -> None:
    assert "127.0.0.1" in refused(f"http://{host}/", settings)


def test_fetch_refuses_unspecified_address(settings: Settings) -> None:
    assert "0.0.0.0" in refused("http://0.0.0.0:8000/", settings)


@pytest.mark.parametrize(
    "host", ["::1", "::", "fe80::1", "fe80::", "fc00::", "fd12:3456::1", "fec0::1", "ff02::1"]
)
def test_fetch_refuses_non_public_ipv6(settings: Settings, host: str) -> None:
    message = refused(f"http://[{host}]/", settings)
    assert "not public" in message


def test_fetch_refuses_link_local_ipv6_with_zone(settings: Settings) -> None:
    assert "fe80::1" in refused("http://[fe80::1%25eth0]/", settings)


@pytest.mark.parametrize(
    ("host", "embedded"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("::ffff:0:127.0.0.1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("2002:7f00:0001::", "127.0.0.1"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
    ],
)
def test_fetch_refuses_ipv4_embedded_in_ipv6(settings: Settings, host: str, embedded: str) -> None:
    message = refused(f"http://[{host}]/", settings)
    assert f"embeds IPv4 {embedded}" in message


def test_fetch_refuses_hostname_resolving_to_mapped_ipv6(settings: Settings, fake_dns: Callable) -> None:
    fake_dns({"mapped.example": ["::ffff:169.254.169.254"]})
    assert "169.254.169.254" in refused("http://mapped.example/", settings)


def test_fetch_refuses_hostname_with_one_public_and_one_private_address(
    settings: Settings, fake_dns: Callable
) -> None:
    fake_dns({"split.example": ["93.184.216.34", "10.0.0.5"]})
    message = refused("http://split.example/data.csv", settings)
    assert "10.0.0.5" in message


def test_fetch_refuses_hostname_with_private_address_listed_first(
    settings: Settings, fake_dns: Callable
) -> None:
    fake_dns({"split.example": ["192.168.1.10", "93.184.216.34"]})
    assert "192.168.1.10" in refused("http://split.example/", settings)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/data.csv",
        "gopher://127.0.0.1:6379/_INFO",
        "dict://127.0.0.1:11211/stat",
        "jar:http://example.com/a.jar!/",
        "data:text/plain,hello",
    ],
)
def test_fetch_refuses_non_http_schemes(settings: Settings, url: str) -> None:
    message = refused(url, settings)
    assert "not allowed" in message
    assert "use http or https" in message


@pytest.mark.parametrize(
    "url", ["http://user:pass@example.com/", "http://user@example.com/", "https://:token@example.com/"]
)
def test_fetch_refuses_credentials_in_url(settings: Settings, url: str) -> None:
    assert "credentials in the URL" in refused(url, settings)


def test_fetch_refuses_backslash_credentials_trick(settings: Settings) -> None:
    refused("http://example.com\\@127.0.0.1/", settings)


def test_fetch_reports_url_without_host(settings: Settings) -> None:
    with pytest.raises(SourceError, match="has no host"):
        fetch_url("http:///data.csv", settings=settings)


def test_fetch_reports_invalid_port_as_source_error(settings: Settings) -> None:
    with pytest.raises(SourceError, match="invalid port"):
        fetch_url("http://example.com:99999/", settings=settings)


def test_fetch_reports_unresolvable_host(settings: Settings, fake_dns: Callable) -> None:
    fake_dns({})
    with pytest.raises(SourceError, match=r"cannot resolve host 'nowhere\.example'") as info:
        fetch_url("http://nowhere.example/", settings=settings)
    assert not isinstance(info.value, UnsafeSourceError)


def test_fetch_reports_invalid_host_name_as_source_error(settings: Settings) -> None:
    with pytest.raises(SourceError, match="not a valid host name"):
        fetch_url(f"http://{'a' * 64}.example/", settings=settings)


def test_allowed_networks_do_not_allow_the_mapped_ipv6_form() -> None:
    settings = Settings(fetch_allowed_networks=["127.0.0.1/32"])
    message = refused("http://[::ffff:127.0.0.1]/", settings)
    assert "embeds IPv4 127.0.0.1" in message


def test_allowed_networks_allow_only_the_listed_network() -> None:
    settings = Settings(fetch_allowed_networks=["127.0.0.2/32"])
    check_address(ipaddress.ip_address("127.0.0.2"), settings)
    with pytest.raises(UnsafeSourceError):
        check_address(ipaddress.ip_address("127.0.0.1"), settings)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::1"])
def test_check_address_accepts_public_addresses(settings: Settings, address: str) -> None:
    check_address(ipaddress.ip_address(address), settings)


@pytest.mark.parametrize("address", ["5f00::1", "3fff::1", "4000::1", "2001:db8::1", "2001:2::1"])
def test_check_address_refuses_ipv6_outside_global_unicast(settings: Settings, address: str) -> None:
    with pytest.raises(UnsafeSourceError, match="refusing to fetch"):
        check_address(ipaddress.ip_address(address), settings)


def test_check_address_refuses_teredo(settings: Settings) -> None:
    with pytest.raises(UnsafeSourceError, match="embeds IPv4"):
        check_address(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:3fff:fdd2"), settings)


def test_resolve_returns_checked_address_of_public_host(settings: Settings, fake_dns: Callable) -> None:
    lookups = fake_dns({"data.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]})
    assert resolve("data.example", 443, settings) == ipaddress.ip_address("93.184.216.34")
    assert lookups == ["data.example"]


def test_resolve_checks_literal_address_without_lookup(settings: Settings, fake_dns: Callable) -> None:
    lookups = fake_dns({})
    assert resolve("[2606:4700:4700::1111]", 443, settings) == ipaddress.ip_address("2606:4700:4700::1111")
    assert lookups == []


def test_resolve_reports_host_without_address(settings: Settings, fake_dns: Callable) -> None:
    fake_dns({"empty.example": []})
    with pytest.raises(SourceError, match="has no address"):
        resolve("empty.example", 80, settings)


class _ChunkedBody:
    """A response body read in pieces, as http.client hands it over."""

    def __init__(self, size: int) -> None:
        self.left = size

    def getheader(self, name: str) -> str | None:
        return None

    def read(self, amount: int) -> bytes:
        piece = min(amount, self.left)
        self.left -= piece
        return b"x" * piece


def test_a_body_read_in_pieces_is_held_once_not_twice() -> None:
    size = 8 * 1024 * 1024
    tracemalloc.start()
    try:
        body = http_module._read_capped(
            _ChunkedBody(size),  # type: ignore[arg-type]
            size,
            time.monotonic() + 60,
            "https://example.org/data.csv",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert body == b"x" * size
    assert peak < 1.5 * size, f"reading {size} bytes peaked at {peak}"
