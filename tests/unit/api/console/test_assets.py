"""The console's static files: only files under the static directory, versioned, gzipped when it pays."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from functions.api.console.assets import STATIC_DIR, AssetStore


@pytest.fixture
def store(tmp_path: Path) -> AssetStore:
    (tmp_path / "vendor").mkdir()
    (tmp_path / "app.js").write_text("console.log('x');\n" * 200)
    (tmp_path / "tiny.css").write_text("a{}")
    (tmp_path / "vendor" / "logo.png").write_bytes(b"\x89PNG" + bytes(2000))
    (tmp_path / "notes.md").write_text("not served")
    (tmp_path / ".hidden.js").write_text("secret")
    (tmp_path.parent / "outside.js").write_text("outside")
    return AssetStore(tmp_path)


def test_a_file_comes_with_its_type_version_and_gzip_form(store: AssetStore) -> None:
    asset = store.get("app.js")
    assert asset is not None
    assert asset.content_type == "text/javascript; charset=utf-8"
    assert asset.gzipped is not None and gzip.decompress(asset.gzipped) == asset.body
    assert len(asset.gzipped) < len(asset.body)
    assert asset.etag == f'"{asset.version}"' and len(asset.version) == 16
    assert store.url("app.js") == f"/console/static/app.js?v={asset.version}"


def test_images_and_small_files_are_not_gzipped(store: AssetStore) -> None:
    logo, tiny = store.get("vendor/logo.png"), store.get("tiny.css")
    assert logo is not None and logo.content_type == "image/png" and logo.gzipped is None
    assert tiny is not None and tiny.gzipped is None


def test_the_version_changes_with_the_content(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_text("a{color:red}")
    (tmp_path / "b.css").write_text("a{color:blue}")
    store = AssetStore(tmp_path)
    first, second = store.get("a.css"), store.get("b.css")
    assert first is not None and second is not None and first.version != second.version


@pytest.mark.parametrize(
    "name",
    [
        "../outside.js",
        "vendor/../../outside.js",
        ".hidden.js",
        "notes.md",
        "missing.js",
        "/etc/passwd",
        "",
        "a//b.js",
    ],
)
def test_nothing_outside_the_static_files_is_served(store: AssetStore, name: str) -> None:
    assert store.get(name) is None


def test_an_unknown_asset_has_no_url(store: AssetStore) -> None:
    with pytest.raises(LookupError):
        store.url("missing.js")


def test_the_packaged_vendor_files_are_there_with_their_licences() -> None:
    for name in (
        "vendor/uplot/uPlot.iife.min.js",
        "vendor/uplot/uPlot.min.css",
        "vendor/uplot/LICENSE",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui.css",
        "vendor/swagger-ui/LICENSE",
        "vendor/swagger-ui/NOTICE",
    ):
        assert (STATIC_DIR / name).is_file(), name


def test_the_api_function_build_ships_every_static_file(tmp_path: Path) -> None:
    root = STATIC_DIR.parents[3]
    subprocess.run(
        ["make", "--no-print-directory", "-s", "-f", str(root / "Makefile"), "build-ApiFunction"],
        cwd=root,
        env={**os.environ, "ARTIFACTS_DIR": str(tmp_path)},
        check=True,
        capture_output=True,
    )
    shipped = tmp_path / STATIC_DIR.relative_to(root)
    expected = sorted(p.relative_to(STATIC_DIR) for p in STATIC_DIR.rglob("*") if p.is_file())
    assert expected and sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file()) == expected
