"""Reading a source (local path, http(s) URL, s3:// object) and telling its format and encoding."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel

from shared.errors import SourceError, UnsafeSourceError, UnsupportedFormatError
from shared.fetcher import fetch_url
from shared.settings import Settings
from shared.wrapper import SourceFormat

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
XML_DANGER = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
XML_SCAN_BYTES = 1 << 20


class SourceData(BaseModel):
    """The raw bytes of a source and what they are."""

    location: str
    content: bytes
    format: SourceFormat
    encoding: str | None = None
    content_type: str = ""


def read_source(location: str, *, settings: Settings, format_hint: SourceFormat | None = None) -> SourceData:
    """Fetch a source through trusted code and tell its format and encoding; refuse unsafe workbooks."""
    content, content_type = load_bytes(location, settings=settings)
    if not content:
        raise SourceError(f"{location} is empty")
    fmt = format_hint or detect_format(content, name=location, content_type=content_type)
    encoding = None
    if fmt == SourceFormat.XLSX:
        check_workbook(content, settings=settings)
    else:
        encoding = detect_encoding(content)
    return SourceData(location=location, content=content, format=fmt, encoding=encoding, content_type=content_type)


def load_bytes(location: str, *, settings: Settings) -> tuple[bytes, str]:
    """Bytes and content type of a local file, an http(s) URL or an s3:// object, capped in size."""
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("http", "https"):
        response = fetch_url(location, settings=settings)
        return response.content, response.content_type
    if scheme == "s3":
        return _load_s3(location, settings=settings)
    if scheme and len(scheme) > 1 and scheme != "file":
        raise UnsafeSourceError(f"scheme {scheme!r} is not supported; use a path, http(s):// or s3://")
    path = Path(location[7:] if scheme == "file" else location).expanduser()
    if not path.is_file():
        raise SourceError(f"{location}: no such file")
    size = path.stat().st_size
    if size > settings.fetch_max_bytes:
        raise SourceError(f"{location} is {size} bytes, over the limit of {settings.fetch_max_bytes}")
    try:
        return path.read_bytes(), ""
    except OSError as exc:
        raise SourceError(f"cannot read {location}: {exc.strerror}") from exc


def _load_s3(location: str, *, settings: Settings) -> tuple[bytes, str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(location)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise SourceError(f"{location}: expected s3://bucket/key")
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        if int(head.get("ContentLength", 0)) > settings.fetch_max_bytes:
            raise SourceError(f"{location} is {head['ContentLength']} bytes, over the limit")
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read(settings.fetch_max_bytes + 1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SourceError(f"cannot read {location}: S3 {code}") from exc
    except BotoCoreError as exc:
        raise SourceError(f"cannot read {location}: {exc}") from exc
    if len(body) > settings.fetch_max_bytes:
        raise SourceError(f"{location} exceeds the limit of {settings.fetch_max_bytes} bytes")
    return body, str(head.get("ContentType", ""))


def detect_format(content: bytes, *, name: str = "", content_type: str = "") -> SourceFormat:
    """Tell CSV, XLSX or JSON from magic bytes first, then the content type and file name."""
    head = content[:4096]
    if head.startswith(ZIP_MAGIC):
        if b"xl/" in content[:65536] or name.lower().endswith((".xlsx", ".xlsm")):
            return SourceFormat.XLSX
        raise UnsupportedFormatError(f"{name or 'source'} is a ZIP archive but not an XLSX workbook")
    if head.startswith(OLE_MAGIC):
        return SourceFormat.XLSX
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"[") or "json" in content_type:
        return SourceFormat.JSON
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFormatError(f"{name or 'source'} is binary and not a workbook (unsupported format)")
    lowered = name.lower().split("?")[0]
    if lowered.endswith((".pdf", ".png", ".jpg", ".gif", ".parquet", ".gz", ".zip")):
        raise UnsupportedFormatError(f"{name} has an unsupported format; use CSV, XLSX or JSON")
    if stripped[:1] == b"<":
        raise UnsupportedFormatError(f"{name or 'source'} looks like HTML/XML, not CSV, XLSX or JSON")
    return SourceFormat.CSV


def detect_encoding(content: bytes) -> str:
    """Guess the text encoding: BOMs, then UTF-8, Shift_JIS (when it yields Japanese), cp1252, latin-1."""
    if content.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = content[: 1 << 20]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:
            return "utf-8"
    try:
        text = sample.decode("shift_jis")
        non_ascii = [ch for ch in text if ord(ch) > 127]
        japanese = [ch for ch in non_ascii if "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff"]
        if non_ascii and len(japanese) >= 0.6 * len(non_ascii):
            return "shift_jis"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def check_workbook(content: bytes, *, settings: Settings) -> None:
    """Refuse zip bombs and XML entity tricks before any parser opens the workbook."""
    if content.startswith(OLE_MAGIC):
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise SourceError(f"the workbook is not a valid XLSX (zip) file: {exc}") from exc
    with archive:
        members = archive.infolist()
        if len(members) > settings.xlsx_max_members:
            raise UnsafeSourceError(f"the workbook has {len(members)} parts, over the limit")
        total = sum(member.file_size for member in members)
        if total > settings.xlsx_max_uncompressed_bytes:
            raise UnsafeSourceError(
                f"the workbook unpacks to {total} bytes, over the limit of {settings.xlsx_max_uncompressed_bytes}"
            )
        packed = max(1, sum(member.compress_size for member in members))
        if total / packed > settings.xlsx_max_compression_ratio:
            raise UnsafeSourceError(f"the workbook's compression ratio {total / packed:.0f}:1 looks like a zip bomb")
        for member in members:
            if member.file_size > 1 << 16 and member.file_size / max(1, member.compress_size) > (
                settings.xlsx_max_compression_ratio
            ):
                raise UnsafeSourceError(f"part {member.filename} compresses {member.file_size} bytes suspiciously")
            if member.filename.endswith((".xml", ".rels", ".vml")):
                with archive.open(member) as handle:
                    head = handle.read(XML_SCAN_BYTES)
                if XML_DANGER.search(head):
                    raise UnsafeSourceError(f"part {member.filename} declares a DTD or entities; refusing the workbook")
