"""The web console at /console, its static files and Swagger UI at /docs, all served without an API key.

The pages hold no data: the console's JavaScript calls the API with the key the user signs in with.
Every file comes from the package, so the pages need no origin but the API's.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Query, Response

from functions.api.console.assets import Asset, AssetStore, assets
from shared.common.errors import NotFoundError
from shared.common.settings import Settings, get_settings

# A versioned URL names exactly one content, so it may be cached for good; an unversioned one briefly.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300, must-revalidate"
PAGE_CACHE = "no-cache"

_ASSET_REF = re.compile(r"\{\{\s*asset:([^\s}]+)\s*\}\}")

router = APIRouter(include_in_schema=False)


def render_page(template: str, *, store: AssetStore) -> str:
    """The page with every `{{ asset:NAME }}` replaced by the asset's versioned URL."""
    return _ASSET_REF.sub(lambda match: store.url(match.group(1)), template)


@cache
def _page(name: str) -> str:
    template = assets.get(name)
    if template is None:
        raise LookupError(f"no console page {name!r}")
    return render_page(template.body.decode("utf-8"), store=assets)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (and does not refuse it with q=0)."""
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        quality = params.strip().lower().removeprefix("q=").strip() if params else "1"
        try:
            return float(quality or "1") > 0
        except ValueError:
            return False
    return False


def connect_sources(settings: Settings) -> str:
    """Origins the console may call: the API's own, and the upload bucket's endpoint when uploads are on."""
    sources = ["'self'"]
    if settings.upload_bucket:
        endpoint = urlsplit(settings.s3_endpoint_url or "")
        if endpoint.scheme and endpoint.netloc:
            sources.append(f"{endpoint.scheme}://{endpoint.netloc}")
        else:
            sources.append("https://*.amazonaws.com")
    return " ".join(sources)


def security_headers(settings: Settings) -> dict[str, str]:
    """Headers of a console page: nothing but its own scripts and styles, no framing, no referrer."""
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect_sources(settings)}",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": PAGE_CACHE,
    }


def asset_response(
    asset: Asset, *, versioned: bool, if_none_match: str | None, accept_encoding: str | None
) -> Response:
    """The asset with its type, validator and caching headers: 304 when the client has it already."""
    headers = {
        "Cache-Control": IMMUTABLE if versioned else REVALIDATE,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match and asset.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and accepts_gzip(accept_encoding):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.content_type, headers=headers)


@router.get("/console")
async def console_page() -> Response:
    """The console: one page; the indicators, an indicator and the create form are views of it."""
    return Response(
        _page("console.html"), media_type="text/html; charset=utf-8", headers=security_headers(get_settings())
    )


@router.get("/docs")
async def docs_page() -> Response:
    """Swagger UI, from the packaged swagger-ui-dist rather than a CDN."""
    return Response(
        _page("docs.html"),
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": PAGE_CACHE,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/console/static/{name:path}")
async def console_asset(
    name: str,
    v: Annotated[str | None, Query(max_length=64)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    """A static file of the console (404 when there is none); versioned URLs are cached for good."""
    asset = assets.get(name)
    if asset is None:
        raise NotFoundError(f"no console file {name!r}")
    return asset_response(
        asset,
        versioned=v == asset.version,
        if_none_match=if_none_match,
        accept_encoding=accept_encoding,
    )
