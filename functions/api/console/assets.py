"""The console's static files, read from the package on first use with their type, version and gzip form."""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# Images are compressed already; below this size gzip saves less than its header costs.
COMPRESSIBLE = (".html", ".js", ".css", ".txt", ".svg")
GZIP_MIN_BYTES = 1024

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, gzip form, content type and a version derived from its content."""

    name: str
    body: bytes
    gzipped: bytes | None
    content_type: str
    version: str

    @property
    def etag(self) -> str:
        """A strong validator: the same bytes always carry the same tag."""
        return f'"{self.version}"'


class AssetStore:
    """The files under one directory, loaded and versioned once per process."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.root = root
        self._assets: dict[str, Asset | None] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Asset | None:
        """The asset called `name` (a relative path), or None when there is no such servable file."""
        with self._lock:
            if name not in self._assets:
                self._assets[name] = self._load(name)
            return self._assets[name]

    def url(self, name: str) -> str:
        """The asset's URL with its version, which lets browsers cache it for good."""
        asset = self.get(name)
        if asset is None:
            raise LookupError(f"no console asset {name!r}")
        return f"/console/static/{name}?v={asset.version}"

    def _load(self, name: str) -> Asset | None:
        if len(name) > 200 or not _SAFE_NAME.match(name):
            return None
        path = (self.root / name).resolve()
        suffix = path.suffix.lower()
        if not path.is_relative_to(self.root) or suffix not in CONTENT_TYPES or not path.is_file():
            return None
        body = path.read_bytes()
        gzipped = None
        if suffix in COMPRESSIBLE and len(body) >= GZIP_MIN_BYTES:
            gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        return Asset(
            name=name,
            body=body,
            gzipped=gzipped,
            content_type=CONTENT_TYPES[suffix],
            version=hashlib.sha256(body).hexdigest()[:16],
        )


assets = AssetStore()
