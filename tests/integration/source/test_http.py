"""The trusted fetcher against real local HTTP servers: redirects, byte caps, timeouts and status errors."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.common.errors import SourceError, UnsafeSourceError
from shared.common.settings import Settings
from shared.source.http import fetch_url

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

Route = Callable[["Handler"], None]
REAL_GETADDRINFO = socket.getaddrinfo


class Server(ThreadingHTTPServer):
    """A local HTTP server answering from a table of routes and recording every request."""

    daemon_threads = True

    def __init__(self, host: str, routes: dict[str, Route]) -> None:
        super().__init__((host, 0), Handler)
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []

    def url(self, path: str = "/") -> str:
        """The URL of a path on this server."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"


class Handler(BaseHTTPRequestHandler):
    """Dispatches GET requests to the server's routes."""

    server: Server

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404, "Not Found")
            return
        # The fetcher hangs up on purpose (caps, timeouts); that is no server error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


def body(content: bytes, *, content_type: str = "text/csv", status: int = 200) -> Route:
    """Answer with a body and its Content-Length."""

    def route(handler: Handler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    return route


def redirect(location: str, *, status: int = 302) -> Route:
    """Answer with a redirect."""

    def route(handler: Handler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def chunked(content: bytes, *, chunk_size: int = 1000) -> Route:
    """Answer with a chunked body, so no length is known in advance."""

    def route(handler: Handler) -> None:
        handler.protocol_version = "HTTP/1.1"
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for start in range(0, len(content), chunk_size):
            piece = content[start : start + chunk_size]
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    return route


def until_close(content: bytes) -> Route:
    """Answer HTTP/1.0 style: no length, the body ends when the connection closes."""

    def route(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.end_headers()
        handler.wfile.write(content)

    return route


def slow(seconds: float, then: Route) -> Route:
    """Sleep before answering."""

    def route(handler: Handler) -> None:
        time.sleep(seconds)
        then(handler)

    return route


def drip(*, pieces: int, interval: float) -> Route:
    """Send headers at once, then one byte every `interval` seconds (each gap below any socket timeout)."""

    def route(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.end_headers()
        handler.wfile.flush()
        for _ in range(pieces):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(interval)

    return route


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start local servers (127.0.0.1 unless told) in threads; stop them after the test."""
    servers: list[Server] = []

    def start(routes: dict[str, Route], *, host: str = "127.0.0.1") -> Server:
        server = Server(host, routes)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def local_settings(*networks: str, **overrides: object) -> Settings:
    """Settings that treat the given loopback networks as public (the test-only escape hatch)."""
    return Settings(fetch_allowed_networks=list(networks or ["127.0.0.1/32"]), **overrides)


def test_fetch_returns_content_from_allowed_local_server(serve: Callable[..., Server]) -> None:
    server = serve({"/data.csv": body(b"year,value\n2020,1.5\n")})
    response = fetch_url(server.url("/data.csv"), settings=local_settings())
    assert response.content == b"year,value\n2020,1.5\n"
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert response.url == server.url("/data.csv")


def test_fetch_sends_user_agent_identity_encoding_and_caller_headers(serve: Callable[..., Server]) -> None:
    server = serve({"/data.csv": body(b"a\n1\n")})
    fetch_url(server.url("/data.csv"), settings=local_settings(), headers={"X-Api-Key": "k"})
    _, headers = server.requests[0]
    assert headers["User-Agent"] == "resource-service/0.1"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["X-Api-Key"] == "k"


def test_fetch_adds_params_to_existing_query_before_fragment(serve: Callable[..., Server]) -> None:
    server = serve({"/api": body(b"{}", content_type="application/json")})
    fetch_url(server.url("/api?x=1#part"), settings=local_settings(), params={"q": "a b", "n": "2"})
    assert server.requests[0][0] == "/api?x=1&q=a+b&n=2"


def test_fetch_follows_allowed_redirect_and_reports_final_url(serve: Callable[..., Server]) -> None:
    server = serve({"/old": redirect("/moved"), "/moved": redirect("new.csv", status=301)})
    server.routes["/new.csv"] = body(b"a,b\n1,2\n")
    response = fetch_url(server.url("/old"), settings=local_settings())
    assert response.content == b"a,b\n1,2\n"
    assert response.url == server.url("/new.csv")
    assert [path for path, _ in server.requests] == ["/old", "/moved", "/new.csv"]


def test_fetch_follows_redirect_to_other_allowed_server(serve: Callable[..., Server]) -> None:
    target = serve({"/data.csv": body(b"x\n1\n")}, host="127.0.0.3")
    first = serve({"/start": redirect(target.url("/data.csv"), status=307)}, host="127.0.0.2")
    response = fetch_url(first.url("/start"), settings=local_settings("127.0.0.2/32", "127.0.0.3/32"))
    assert response.content == b"x\n1\n"
    assert response.url == target.url("/data.csv")


def test_fetch_refuses_redirect_to_loopback(serve: Callable[..., Server]) -> None:
    secret = serve({"/secret": body(b"internal admin data")}, host="127.0.0.1")
    first = serve({"/start": redirect(secret.url("/secret"))}, host="127.0.0.2")
    with pytest.raises(UnsafeSourceError, match=r"address 127\.0\.0\.1 is not public") as info:
        fetch_url(first.url("/start"), settings=local_settings("127.0.0.2/32"))
    assert "refusing" in str(info.value)
    assert [path for path, _ in first.requests] == ["/start"]
    assert secret.requests == []


def test_fetch_refuses_redirect_to_localhost_name(serve: Callable[..., Server]) -> None:
    secret = serve({"/secret": body(b"internal")}, host="127.0.0.1")
    port = secret.server_address[1]
    first = serve({"/start": redirect(f"http://localhost:{port}/secret")}, host="127.0.0.2")
    with pytest.raises(UnsafeSourceError, match="not public"):
        fetch_url(first.url("/start"), settings=local_settings("127.0.0.2/32"))
    assert secret.requests == []


def test_fetch_refuses_redirect_to_metadata_address(serve: Callable[..., Server]) -> None:
    first = serve({"/start": redirect("http://169.254.169.254/latest/meta-data/")})
    with pytest.raises(UnsafeSourceError, match=r"169\.254\.169\.254 is not public"):
        fetch_url(first.url("/start"), settings=local_settings())


def test_fetch_refuses_redirect_to_mapped_metadata_address(serve: Callable[..., Server]) -> None:
    first = serve({"/start": redirect("http://[::ffff:169.254.169.254]/")})
    with pytest.raises(UnsafeSourceError, match=r"embeds IPv4 169\.254\.169\.254"):
        fetch_url(first.url("/start"), settings=local_settings())


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO"])
def test_fetch_refuses_redirect_to_non_http_scheme(serve: Callable[..., Server], location: str) -> None:
    first = serve({"/start": redirect(location)})
    with pytest.raises(UnsafeSourceError, match="is not allowed"):
        fetch_url(first.url("/start"), settings=local_settings())


def test_fetch_refuses_redirect_with_credentials(serve: Callable[..., Server]) -> None:
    first = serve({"/start": redirect("http://admin:admin@127.0.0.1/")})
    with pytest.raises(UnsafeSourceError, match="credentials in the URL"):
        fetch_url(first.url("/start"), settings=local_settings())


def test_fetch_stops_redirect_loop_after_max_redirects(serve: Callable[..., Server]) -> None:
    server = serve({"/loop": redirect("/loop")})
    with pytest.raises(SourceError, match="more than 3 redirects"):
        fetch_url(server.url("/loop"), settings=local_settings(fetch_max_redirects=3))
    assert len(server.requests) == 4


def test_fetch_reports_redirect_without_location(serve: Callable[..., Server]) -> None:
    def no_location(handler: Handler) -> None:
        handler.send_response(302)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = serve({"/start": no_location})
    with pytest.raises(SourceError, match="without a Location"):
        fetch_url(server.url("/start"), settings=local_settings())


def test_fetch_drops_caller_headers_on_redirect_to_other_host(serve: Callable[..., Server]) -> None:
    other = serve({"/data.csv": body(b"x\n1\n")}, host="127.0.0.3")
    first = serve({"/start": redirect(other.url("/data.csv"))}, host="127.0.0.2")
    settings = local_settings("127.0.0.2/32", "127.0.0.3/32")
    fetch_url(first.url("/start"), settings=settings, headers={"Authorization": "Bearer s3cret"})
    assert first.requests[0][1]["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in other.requests[0][1]


def test_fetch_keeps_caller_headers_on_redirect_within_host(serve: Callable[..., Server]) -> None:
    server = serve({"/start": redirect("/data.csv"), "/data.csv": body(b"x\n1\n")})
    fetch_url(server.url("/start"), settings=local_settings(), headers={"Authorization": "Bearer s3cret"})
    assert [headers["Authorization"] for _, headers in server.requests] == ["Bearer s3cret"] * 2


def test_fetch_connects_to_checked_address_without_second_lookup(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve({"/data.csv": body(b"x\n1\n")}, host="127.0.0.2")
    port = server.server_address[1]
    # A rebinding name: checked as 127.0.0.2 (allowed), then 127.0.0.3 (not allowed) on any later lookup.
    answers = iter(["127.0.0.2", "127.0.0.3", "127.0.0.3"])
    lookups: list[str] = []

    def rebinding_dns(host: str, lookup_port: int, *args: object, **kwargs: object) -> list:
        if host != "data.example":
            return REAL_GETADDRINFO(host, lookup_port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), lookup_port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    response = fetch_url(f"http://data.example:{port}/data.csv", settings=local_settings("127.0.0.2/32"))
    assert response.content == b"x\n1\n"
    assert lookups == ["data.example"]
    assert server.requests[0][1]["Host"] == f"data.example:{port}"


def test_fetch_refuses_content_length_over_cap(serve: Callable[..., Server]) -> None:
    server = serve({"/big.csv": body(b"x" * 5000)})
    with pytest.raises(SourceError, match="5000 bytes, over the limit of 1000"):
        fetch_url(server.url("/big.csv"), settings=local_settings(fetch_max_bytes=1000))


def test_fetch_refuses_content_length_over_max_bytes_argument(serve: Callable[..., Server]) -> None:
    server = serve({"/big.csv": body(b"x" * 5000)})
    with pytest.raises(SourceError, match="over the limit of 100"):
        fetch_url(server.url("/big.csv"), settings=local_settings(), max_bytes=100)


def test_fetch_accepts_body_exactly_at_cap(serve: Callable[..., Server]) -> None:
    server = serve({"/edge.csv": body(b"x" * 1000)})
    response = fetch_url(server.url("/edge.csv"), settings=local_settings(fetch_max_bytes=1000))
    assert len(response.content) == 1000


def test_fetch_refuses_chunked_body_over_cap_while_reading(serve: Callable[..., Server]) -> None:
    server = serve({"/big.csv": chunked(b"y" * 200_000)})
    with pytest.raises(SourceError, match="exceeds the limit of 100000 bytes"):
        fetch_url(server.url("/big.csv"), settings=local_settings(fetch_max_bytes=100_000))


def test_fetch_reads_chunked_body_under_cap(serve: Callable[..., Server]) -> None:
    server = serve({"/small.csv": chunked(b"a,b\n" * 1000)})
    response = fetch_url(server.url("/small.csv"), settings=local_settings(fetch_max_bytes=100_000))
    assert response.content == b"a,b\n" * 1000


def test_fetch_refuses_unknown_length_body_over_cap_while_reading(serve: Callable[..., Server]) -> None:
    server = serve({"/big.csv": until_close(b"z" * 200_000)})
    with pytest.raises(SourceError, match="exceeds the limit of 100000 bytes"):
        fetch_url(server.url("/big.csv"), settings=local_settings(fetch_max_bytes=100_000))


def test_fetch_times_out_on_server_slower_than_timeout(serve: Callable[..., Server]) -> None:
    server = serve({"/slow.csv": slow(3.0, body(b"late\n"))})
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"timed out after 0\.5 s"):
        fetch_url(server.url("/slow.csv"), settings=local_settings(fetch_timeout_seconds=0.5))
    assert time.monotonic() - started < 2.0


def test_fetch_times_out_on_slow_drip_body(serve: Callable[..., Server]) -> None:
    server = serve({"/drip.csv": drip(pieces=40, interval=0.1)})
    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out"):
        fetch_url(server.url("/drip.csv"), settings=local_settings(fetch_timeout_seconds=0.5))
    assert time.monotonic() - started < 2.0


def test_fetch_timeout_covers_all_redirect_hops(serve: Callable[..., Server]) -> None:
    server = serve({"/a": slow(0.3, redirect("/b")), "/b": slow(0.3, redirect("/c"))})
    server.routes["/c"] = slow(0.3, body(b"done\n"))
    with pytest.raises(SourceError, match="timed out"):
        fetch_url(server.url("/a"), settings=local_settings(fetch_timeout_seconds=0.5))


def test_fetch_reports_http_404_with_status(serve: Callable[..., Server]) -> None:
    server = serve({})
    with pytest.raises(SourceError, match="HTTP 404 Not Found") as info:
        fetch_url(server.url("/missing.csv"), settings=local_settings())
    assert not isinstance(info.value, UnsafeSourceError)


def test_fetch_reports_http_500_with_status(serve: Callable[..., Server]) -> None:
    server = serve({"/broken": body(b"oops", status=500)})
    with pytest.raises(SourceError, match="HTTP 500"):
        fetch_url(server.url("/broken"), settings=local_settings())


def test_fetch_reports_refused_connection(serve: Callable[..., Server]) -> None:
    server = serve({})
    url = server.url("/gone")
    server.shutdown()
    server.server_close()
    with pytest.raises(SourceError, match="cannot fetch"):
        fetch_url(url, settings=local_settings())


def test_fetch_reports_invalid_header_value_as_source_error(serve: Callable[..., Server]) -> None:
    server = serve({"/data.csv": body(b"x\n")})
    with pytest.raises(SourceError, match="cannot fetch"):
        fetch_url(server.url("/data.csv"), settings=local_settings(), headers={"X-Bad": "a\r\nInjected: 1"})
    assert server.requests == []
