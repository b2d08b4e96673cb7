"""The console and Swagger UI pages: served without a key, every asset local, cached by version."""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from functions.api.app import create_app
from functions.api.console.assets import assets
from functions.api.console.pages import IMMUTABLE, accepts_gzip, connect_sources
from shared.common.settings import Settings
from tests.support import FakeLambdaContext, http_api_event

ASSET_URL = re.compile(r'(?:href|src)="([^"]+)"')


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/console", "/docs"])
def test_pages_reference_only_versioned_files_of_the_service(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    urls = ASSET_URL.findall(response.text)
    files = [url for url in urls if url.startswith("/console/static/")]
    assert files and all(re.search(r"\?v=[0-9a-f]{16}$", url) for url in files)
    assert all(url.startswith(("/", "#")) for url in urls), urls
    for url in files:
        assert client.get(url).status_code == 200, url


def test_the_console_page_allows_no_other_origin(client: TestClient) -> None:
    policy = client.get("/console").headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy


def test_uploads_open_the_console_to_the_bucket_endpoint_only() -> None:
    assert connect_sources(Settings()) == "'self'"
    assert connect_sources(Settings(upload_bucket="b")) == "'self' https://*.amazonaws.com"
    local = Settings(upload_bucket="b", s3_endpoint_url="http://127.0.0.1:9000/path")
    assert connect_sources(local) == "'self' http://127.0.0.1:9000"


def test_swagger_ui_no_longer_comes_from_a_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert client.get("/redoc").status_code == 404


def test_a_versioned_asset_is_cached_for_good_and_an_unversioned_one_briefly(client: TestClient) -> None:
    asset = assets.get("console.js")
    assert asset is not None
    versioned = client.get(f"/console/static/console.js?v={asset.version}")
    assert versioned.headers["cache-control"] == IMMUTABLE
    assert versioned.headers["content-type"] == "text/javascript; charset=utf-8"
    assert versioned.headers["etag"] == asset.etag
    assert versioned.headers["x-content-type-options"] == "nosniff"
    stale = client.get("/console/static/console.js?v=0000000000000000")
    assert "immutable" not in stale.headers["cache-control"]
    assert "max-age=300" in client.get("/console/static/console.js").headers["cache-control"]


def test_a_known_etag_gets_304_without_a_body(client: TestClient) -> None:
    asset = assets.get("console.css")
    assert asset is not None
    response = client.get("/console/static/console.css", headers={"If-None-Match": asset.etag})
    assert response.status_code == 304 and response.content == b""
    assert response.headers["etag"] == asset.etag


def test_gzip_only_when_the_client_accepts_it(client: TestClient) -> None:
    packed = client.get("/console/static/console.js", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    plain = client.get("/console/static/console.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == packed.content  # the test client decodes gzip


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("identity", False),
        (None, False),
        ("gzip;q=x", False),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


@pytest.mark.parametrize("name", ["../app.py", "vendor/uplot/LICENSE", "nothing.js"])
def test_anything_else_is_a_404_in_the_error_shape(client: TestClient, name: str) -> None:
    response = client.get(f"/console/static/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_pages_need_no_api_key(client: TestClient) -> None:
    for path in ("/console", "/docs", "/console/static/console.css"):
        assert client.get(path).status_code == 200


def test_on_lambda_a_gzipped_asset_is_sent_base64_and_decodes_to_the_file() -> None:
    handler = Mangum(create_app(Settings()), lifespan="off")
    event = http_api_event("GET", "/console/static/vendor/uplot/uPlot.iife.min.js", key="")
    event["headers"]["accept-encoding"] = "gzip, deflate, br"
    response = handler(event, FakeLambdaContext())
    asset = assets.get("vendor/uplot/uPlot.iife.min.js")
    assert asset is not None
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert response["headers"]["content-encoding"] == "gzip"
    assert gzip.decompress(base64.b64decode(response["body"])) == asset.body
