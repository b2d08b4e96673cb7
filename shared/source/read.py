"""Reading a source (local path, http(s) URL, s3:// object) and telling its format and encoding."""

from __future__ import annotations

import codecs
import io
import re
import struct
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from shared.common.errors import HintError, SourceError, UnsafeSourceError, UnsupportedFormatError
from shared.common.settings import Settings
from shared.domain.wrapper import SourceFormat
from shared.source.http import fetch_url

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"PAR1", b"BZh", b"\xfd7zXZ")
UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
XML_SCAN_BYTES = 1 << 20
XML_PART_SUFFIXES = (".xml", ".rels", ".vml")
ZIP_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
INFLATE_INPUT_CHUNK = 1 << 16
INFLATE_OUTPUT_CHUNK = 1 << 20
ENCODING_SAMPLE_BYTES = 1 << 20
DECODE_SLICE_BYTES = 1 << 20
# Legacy code pages of the sources met: Western, Central/Eastern European, Cyrillic, Greek, Turkish,
# Baltic, Japanese, Chinese, Korean. charset-normalizer picks among them, not among every codec Python has.
CODE_PAGES = (
    "cp1252", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "koi8_r", "koi8_u", "cp1253", "cp1254", "cp1257",
    "cp932", "shift_jis", "euc_jp", "gb18030", "gbk", "big5", "cp949", "euc_kr",
)  # fmt: skip
# Names reported instead of a superset that decodes the same text.
COMMON_NAMES = ("cp1252", "shift_jis", "gbk")


class SourceData(BaseModel):
    """The raw bytes of a source and what they are."""

    location: str
    content: bytes
    format: SourceFormat
    encoding: str | None = None
    content_type: str = ""
    warnings: list[str] = Field(default_factory=list)
    link: str = Field(default="", description="the HTTP Link header of an http(s) source")


def read_source(
    location: str,
    *,
    settings: Settings,
    format_hint: SourceFormat | None = None,
    allow_local_files: bool = True,
    encoding: str | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> SourceData:
    """Fetch a source through trusted code and tell its format and encoding; refuse unsafe workbooks.

    Services pass `allow_local_files=False`: only the command line may read the machine's own files.
    A given `encoding` (a user's hint) replaces detection, but only when the whole text decodes with it.
    `headers` and `params` go on an http(s) request only (resolved secrets: see fetch_plan).
    """
    link = ""
    if urlsplit(location).scheme.lower() in ("http", "https"):
        # The Link header may carry the next page; the profile reads pagination from it.
        response = fetch_url(location, settings=settings, headers=headers, params=params)
        content, content_type, link = response.content, response.content_type, response.link
    else:
        content, content_type = load_bytes(
            location, settings=settings, allow_local_files=allow_local_files, headers=headers, params=params
        )
    if not content:
        raise SourceError(f"{location} is empty")
    fmt = format_hint or detect_format(content, name=location, content_type=content_type)
    # A format hint must not let an archive reach a parser unchecked.
    if fmt == SourceFormat.XLSX or content.startswith(ZIP_MAGIC):
        check_workbook(content, settings=settings)
    if encoding is not None and fmt != SourceFormat.XLSX:
        _check_decodes(content, encoding)
    encoding = None if fmt == SourceFormat.XLSX else encoding or detect_encoding(content)
    return SourceData(
        location=location,
        content=content,
        format=fmt,
        encoding=encoding,
        content_type=content_type,
        warnings=decoding_doubts(content, encoding) if encoding else [],
        link=link,
    )


def load_bytes(
    location: str,
    *,
    settings: Settings,
    allow_local_files: bool = True,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> tuple[bytes, str]:
    """Bytes and content type of a local file, an http(s) URL or an s3:// object, capped in size."""
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("http", "https"):
        response = fetch_url(location, settings=settings, headers=headers, params=params)
        return response.content, response.content_type
    if headers or params:
        raise UnsafeSourceError(f"{location!r}: request headers and parameters need an http(s):// source")
    if scheme == "s3":
        return _load_s3(location, settings=settings)
    if not allow_local_files:
        raise UnsafeSourceError(f"{location!r}: only http(s):// and s3:// sources are allowed here")
    if scheme and len(scheme) > 1 and scheme != "file":
        raise UnsafeSourceError(f"scheme {scheme!r} is not supported; use a path, http(s):// or s3://")
    path = Path(location[7:] if scheme == "file" else location).expanduser()
    if not path.is_file():
        raise SourceError(f"{location}: no such file")
    size = path.stat().st_size
    if size > settings.fetch_max_bytes:
        raise SourceError(f"{location} is {size} bytes, over the limit of {settings.fetch_max_bytes}")
    try:
        # Capped read: st_size can lie (files under /proc) or the file can grow after the stat.
        with path.open("rb") as handle:
            content = handle.read(settings.fetch_max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"cannot read {location}: {exc.strerror}") from exc
    if len(content) > settings.fetch_max_bytes:
        raise SourceError(f"{location} exceeds the limit of {settings.fetch_max_bytes} bytes")
    return content, ""


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
            raise SourceError(
                f"{location} is {head['ContentLength']} bytes, over the limit of {settings.fetch_max_bytes}"
            )
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            content = body.read(settings.fetch_max_bytes + 1)
        finally:
            body.close()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SourceError(f"cannot read {location}: S3 {code}") from exc
    except BotoCoreError as exc:
        raise SourceError(f"cannot read {location}: {exc}") from exc
    if len(content) > settings.fetch_max_bytes:
        raise SourceError(f"{location} exceeds the limit of {settings.fetch_max_bytes} bytes")
    return content, str(head.get("ContentType", ""))


def detect_format(content: bytes, *, name: str = "", content_type: str = "") -> SourceFormat:
    """Tell CSV, XLSX or JSON from magic bytes first, then the content type and file name."""
    head = content[:4096]
    label = name or "source"
    if head.startswith(ZIP_MAGIC):
        if _is_workbook_archive(content):
            return SourceFormat.XLSX
        raise UnsupportedFormatError(f"{label} is a ZIP archive but not an XLSX workbook")
    if head.startswith(OLE_MAGIC):
        return SourceFormat.XLSX
    if head.startswith(BINARY_MAGIC):
        raise UnsupportedFormatError(f"{label} is binary and not a workbook (unsupported format)")
    first = _first_text_char(head)
    if first in ("{", "[") or "json" in content_type.lower():
        return SourceFormat.JSON
    if b"\x00" in head and not head.startswith(UTF16_BOMS):
        raise UnsupportedFormatError(f"{label} is binary and not a workbook (unsupported format)")
    lowered = name.lower().split("?")[0]
    if lowered.endswith((".pdf", ".png", ".jpg", ".gif", ".parquet", ".gz", ".zip")):
        raise UnsupportedFormatError(f"{name} has an unsupported format; use CSV, XLSX or JSON")
    if first == "<":
        raise UnsupportedFormatError(f"{label} looks like HTML/XML, not CSV, XLSX or JSON")
    return SourceFormat.CSV


def _is_workbook_archive(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return any(name.startswith("xl/") for name in names)


def _first_text_char(head: bytes) -> str:
    # UTF-16/32 text must be decoded before its first character can be seen.
    encoding = detect_encoding(head) if head.startswith(UTF16_BOMS) else "latin-1"
    return head.decode(encoding, errors="ignore").lstrip("\ufeff\xef\xbb\xbf \t\r\n")[:1]


def detect_encoding(content: bytes) -> str:
    """Guess the text encoding: BOMs, UTF-8, then the legacy code page charset-normalizer finds likeliest.

    Among code pages that decode the sample to the same text, the common name wins (cp1252 for Western
    text, shift_jis for Japanese). When no code page reads it cleanly: cp1252 if it decodes, else latin-1,
    and `decoding_doubts` says what looks wrong.
    """
    if content.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if content.startswith(UTF32_BOMS):
        return "utf-32"
    if content.startswith(UTF16_BOMS):
        return "utf-16"
    sample = content[:ENCODING_SAMPLE_BYTES]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # Only a character cut by the sample's end is forgiven, not a bad byte at the end of the content.
        if len(content) > len(sample) and exc.start >= len(sample) - 4:
            return "utf-8"
    import charset_normalizer

    best = charset_normalizer.from_bytes(sample, cp_isolation=list(CODE_PAGES)).best()
    if best is not None and _mostly_letters(str(best)):
        text = str(best)
        return next((name for name in COMMON_NAMES if _decodes_to(sample, name, text)), best.encoding)
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _mostly_letters(text: str) -> bool:
    """Whether the characters beyond ASCII are mostly letters, as in text of any script (not symbols)."""
    beyond = [char for char in text if ord(char) > 127]
    return sum(char.isalpha() for char in beyond) >= 0.5 * len(beyond)


def _decodes_to(sample: bytes, encoding: str, text: str) -> bool:
    try:
        return sample.decode(encoding) == text
    except UnicodeDecodeError:
        return False


# UTF-8 read as a Western code page: `Ã©` for `é`, `â€™` for `’`, `Ã¤` for `ä`.
_MOJIBAKE = re.compile(
    "[\u00c2\u00c3][\u0080-\u00bf\u2018-\u203a\u0152\u0153\u0160\u0161\u017d\u017e\u0178]|\u00e2\u20ac"
)


# Control characters of no text: C0 but tab, line and page breaks, and C1 (what a wrong code page leaves).
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x80-\x9f]")


def decoding_doubts(content: bytes, encoding: str) -> list[str]:
    """What suggests that `encoding` decodes the content wrongly: replacement characters, control
    characters of no text, UTF-8 read as a single-byte code page."""
    text = content[:ENCODING_SAMPLE_BYTES].decode(encoding, errors="replace")
    doubts = []
    error = decode_error(content, encoding)  # all of it: a bad byte past the sample is replaced as silently
    if error is not None:
        doubts.append(f"bytes from offset {error.start} on do not decode as {encoding}")
    controls = len(_CONTROLS.findall(text))
    if controls:
        doubts.append(f"{controls} control characters after decoding as {encoding}")
    garbled = len(_MOJIBAKE.findall(text))
    if garbled:
        doubts.append(f"{garbled} sequences look like UTF-8 read as {encoding} (e.g. 'Ã©' for 'é')")
    if doubts:
        doubts[0] = f"the text may be decoded wrongly: {doubts[0]}"
    return doubts


def decode_error(content: bytes, encoding: str) -> UnicodeDecodeError | None:
    """The error of decoding all of `content` as `encoding`, or None when it decodes."""
    # A slice at a time, so that a big source is never held a second time as text. Only content that fails
    # so is decoded whole, for a whole decode's own verdict: the incremental UTF-16 decoder, for one, also
    # refuses a stream without a byte order mark, which a whole decode reads.
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(content)
    try:
        for start in range(0, len(content), DECODE_SLICE_BYTES):
            end = start + DECODE_SLICE_BYTES
            decoder.decode(view[start:end], final=end >= len(content))
        return None
    except UnicodeError:
        pass
    try:
        content.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc
    return None


def _check_decodes(content: bytes, encoding: str) -> None:
    error = decode_error(content, encoding)
    if error is not None:
        raise HintError(
            f"encoding {encoding}: byte {content[error.start : error.start + 1]!r} at offset {error.start} "
            f"does not decode ({error.reason}); detected without the hint: {detect_encoding(content)}"
        ) from error


def check_workbook(content: bytes, *, settings: Settings) -> None:
    """Refuse zip bombs and XML entity tricks before any parser opens the workbook."""
    if content.startswith(OLE_MAGIC):
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(f"the workbook is not a valid XLSX (zip) file: {exc}") from exc
    with archive:
        members = archive.infolist()
        if len(members) > settings.xlsx_max_members:
            raise UnsafeSourceError(f"the workbook has {len(members)} parts, over the limit")
        total = sum(member.file_size for member in members)
        limit = settings.xlsx_max_uncompressed_bytes
        if total > limit:
            raise UnsafeSourceError(f"the workbook unpacks to {total} bytes, over the limit of {limit}")
        # Against the archive's real size: overlapping entries can reuse one compressed stream many times.
        ratio = total / max(1, len(content))
        if ratio > settings.xlsx_max_compression_ratio:
            raise UnsafeSourceError(f"the workbook's compression ratio {ratio:.0f}:1 looks like a zip bomb")
        for member in members:
            if member.file_size > 1 << 16 and member.file_size / max(1, member.compress_size) > (
                settings.xlsx_max_compression_ratio
            ):
                raise UnsafeSourceError(
                    f"part {member.filename} compresses {member.file_size} bytes suspiciously"
                )
            if member.flag_bits & 0x1:
                raise UnsafeSourceError(f"part {member.filename} is encrypted; refusing the workbook")
            _check_declared_size(content, member)
            try:
                _check_xml_part(archive, member)
            except zipfile.BadZipFile as exc:
                raise SourceError(f"the workbook is not a valid XLSX (zip) file: {exc}") from exc


def _check_declared_size(content: bytes, member: zipfile.ZipInfo) -> None:
    # The sizes checked above are the archive's own claims; inflate each part (keeping nothing) to prove them,
    # since a parser that streams a part to its end would not stop at a size that lies.
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsafeSourceError(f"part {member.filename} uses compression method {member.compress_type}")
    header = content[member.header_offset : member.header_offset + ZIP_LOCAL_HEADER.size]
    if len(header) < ZIP_LOCAL_HEADER.size or not header.startswith(ZIP_MAGIC):
        raise SourceError(f"the workbook is not a valid XLSX (zip) file: bad header for {member.filename}")
    fields = ZIP_LOCAL_HEADER.unpack(header)
    start = member.header_offset + ZIP_LOCAL_HEADER.size + fields[-2] + fields[-1]
    packed = memoryview(content)[start : start + member.compress_size]
    if member.compress_type == zipfile.ZIP_STORED:
        unpacked = len(packed)
    else:
        unpacked = _inflated_size(packed, limit=member.file_size, name=member.filename)
    if unpacked > member.file_size:
        raise UnsafeSourceError(
            f"part {member.filename} unpacks to more than its declared {member.file_size} bytes"
        )


def _inflated_size(packed: memoryview, *, limit: int, name: str) -> int:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    unpacked = 0
    try:
        # Fed in slices: unconsumed_tail copies what is left, which must stay small.
        for offset in range(0, len(packed), INFLATE_INPUT_CHUNK):
            data: bytes | memoryview = packed[offset : offset + INFLATE_INPUT_CHUNK]
            while data and not inflater.eof:
                unpacked += len(inflater.decompress(data, INFLATE_OUTPUT_CHUNK))
                if unpacked > limit:
                    return unpacked
                data = inflater.unconsumed_tail
            if inflater.eof:
                return unpacked
        return unpacked + len(inflater.flush())
    except zlib.error as exc:
        raise SourceError(f"the workbook part {name} is corrupt: {exc}") from exc


class _PrologOverError(Exception):
    """The first element was reached: no DTD can follow."""


def _check_xml_part(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    with archive.open(member) as handle:
        head = handle.read(64)
        # Parts are found through relationships, not names: anything that reads as XML is scanned.
        if not member.filename.lower().endswith(XML_PART_SUFFIXES) and not _looks_like_xml(head):
            return
        refusal = f"part {member.filename} declares a DTD or entities; refusing the workbook"

        def refuse(*_args: object) -> None:
            raise UnsafeSourceError(refusal)

        def stop(*_args: object) -> None:
            raise _PrologOverError

        # expat reads the encoding (UTF-16 too) and the whole prolog, however much padding precedes a DTD.
        parser = xml.parsers.expat.ParserCreate()
        parser.StartDoctypeDeclHandler = refuse
        parser.EntityDeclHandler = refuse
        parser.StartElementHandler = stop
        scanned = 0
        chunk = head
        try:
            while scanned <= XML_SCAN_BYTES:
                parser.Parse(chunk, not chunk)
                if not chunk:
                    return
                scanned += len(chunk)
                chunk = handle.read(65536)
        except _PrologOverError:
            return
        except xml.parsers.expat.ExpatError as exc:
            raise UnsafeSourceError(
                f"part {member.filename} is not well-formed XML ({exc}); refusing the workbook"
            ) from exc
    raise UnsafeSourceError(f"part {member.filename} has no element in its first {XML_SCAN_BYTES} bytes")


def _looks_like_xml(head: bytes) -> bool:
    if head.startswith((b"\xef\xbb\xbf", *UTF16_BOMS)):
        return True
    return head.replace(b"\x00", b"").lstrip(b" \t\r\n").startswith(b"<")
