"""Reading sources (local, http, s3), telling their format and encoding, and refusing unsafe workbooks."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import openpyxl
import pytest
from moto import mock_aws

import shared.source.read as source_module
from shared.common.errors import SourceError, UnsafeSourceError, UnsupportedFormatError
from shared.common.settings import Settings
from shared.domain.wrapper import SourceFormat
from shared.source.http import FetchedResponse
from shared.source.read import check_workbook, detect_encoding, detect_format, load_bytes, read_source

pytestmark = pytest.mark.timeout(30)

SKELETON = {
    "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="ct"/>',
    "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="rel"/>',
    "xl/workbook.xml": b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="main"><sheets/></workbook>',
}
LAUGHS = (
    '<?xml version="1.0" encoding="{encoding}"?>\n'
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">' for n in range(1, 10))
    + ']>\n<sst xmlns="main"><si><t>&lol9;</t></si></sst>'
)


@pytest.fixture
def settings() -> Settings:
    """Production defaults."""
    return Settings()


def zip_bytes(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP archive holding the given members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def workbook_bytes() -> bytes:
    """A real small workbook written by openpyxl."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["year", "value", "city"])
    sheet.append([2020, 1.5, "Zürich"])
    sheet.append([2021, 2.5, "東京"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A workbook-looking archive whose sheet is 50 MB of zeros packed about 1000:1."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in SKELETON.items():
            archive.writestr(name, data)
        with archive.open("xl/worksheets/sheet1.xml", "w") as handle:
            block = b"0" * (1 << 20)
            for _ in range(50):
                handle.write(block)
    return buffer.getvalue()


def central_entries(data: bytes) -> tuple[list[bytes], int]:
    """The central directory entries of an archive and where the directory starts."""
    end = data.rfind(b"PK\x05\x06")
    size, offset = struct.unpack("<2L", data[end + 12 : end + 20])
    directory = data[offset : offset + size]
    entries = []
    position = 0
    while position < len(directory):
        name_length, extra_length, comment_length = struct.unpack(
            "<3H", directory[position + 28 : position + 34]
        )
        length = 46 + name_length + extra_length + comment_length
        entries.append(directory[position : position + length])
        position += length
    return entries, offset


def with_central_entries(data: bytes, entries: list[bytes], offset: int) -> bytes:
    """The archive with its central directory replaced."""
    directory = b"".join(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), offset, 0)
    return data[:offset] + directory + end


def entry_name(entry: bytes) -> str:
    """The member name of a central directory entry."""
    (name_length,) = struct.unpack("<H", entry[28:30])
    return entry[46 : 46 + name_length].decode()


def declare_size(data: bytes, name: str, size: int) -> bytes:
    """The archive with one member's uncompressed size rewritten (a lying header)."""
    entries, offset = central_entries(data)
    patched = []
    local_offsets = []
    for entry in entries:
        if entry_name(entry) == name:
            entry = entry[:24] + struct.pack("<L", size) + entry[28:]
            local_offsets.append(struct.unpack("<L", entry[42:46])[0])
        patched.append(entry)
    body = bytearray(data[:offset])
    for local in local_offsets:
        body[local + 22 : local + 26] = struct.pack("<L", size)
    return with_central_entries(bytes(body), patched, offset)


def test_detect_format_csv() -> None:
    assert detect_format(b"year,value\n2020,1.5\n", name="data.csv") == SourceFormat.CSV


def test_detect_format_csv_in_utf16_with_bom() -> None:
    assert detect_format("year;value\n2020;1,5\n".encode("utf-16")) == SourceFormat.CSV


@pytest.mark.parametrize(
    "content",
    [
        b'{"data": [1, 2]}',
        b'\n  [{"year": 2020}]',
        b'\xef\xbb\xbf{"data": []}',
        b'\xef\xbb\xbf\r\n[{"year": 2020, "value": 1.5}]',
        '[{"year": 2020}]'.encode("utf-16"),
        '\ufeff{"a": 1}'.encode("utf-16-be"),
    ],
    ids=["object", "array-after-blank", "object-bom", "array-bom", "utf16-le-bom", "utf16-be-bom"],
)
def test_detect_format_json_object_and_array(content: bytes) -> None:
    assert detect_format(content) == SourceFormat.JSON


def test_detect_format_json_by_content_type() -> None:
    assert detect_format(b"null", content_type="application/json; charset=utf-8") == SourceFormat.JSON


def test_detect_format_xlsx_by_zip_magic_without_a_name() -> None:
    assert detect_format(workbook_bytes(), name="https://example.com/download?id=3") == SourceFormat.XLSX


def test_detect_format_legacy_xls_by_ole_magic() -> None:
    assert detect_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100) == SourceFormat.XLSX


@pytest.mark.parametrize("name", ["archive.zip", "report.xlsx", ""])
def test_detect_format_refuses_zip_that_is_not_a_workbook(name: str) -> None:
    content = zip_bytes({"data.csv": b"a,b\n1,2\n", "readme.txt": b"hello"})
    with pytest.raises(UnsupportedFormatError, match="ZIP archive but not an XLSX workbook"):
        detect_format(content, name=name)


def test_detect_format_refuses_broken_zip() -> None:
    with pytest.raises(UnsupportedFormatError, match="not an XLSX workbook"):
        detect_format(b"PK\x03\x04" + b"\x00" * 40, name="broken.xlsx")


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03year,value",
        b"GIF89a\x10\x00\x10\x00",
        b"\x7fELF\x02\x01\x01\x00\x00\x00",
    ],
    ids=["png", "pdf", "gzip", "gif", "elf"],
)
def test_detect_format_refuses_binary(content: bytes) -> None:
    with pytest.raises(UnsupportedFormatError, match="unsupported format"):
        detect_format(content, name="download")


@pytest.mark.parametrize(
    "content",
    [
        b"<!DOCTYPE html><html><body>Not found</body></html>",
        b"\xef\xbb\xbf\n  <html lang='en'><head></head></html>",
        b'<?xml version="1.0"?><rows><row/></rows>',
    ],
)
def test_detect_format_refuses_html(content: bytes) -> None:
    with pytest.raises(UnsupportedFormatError, match="looks like HTML/XML"):
        detect_format(content, name="https://example.com/data")


def test_detect_format_refuses_unsupported_extension() -> None:
    with pytest.raises(UnsupportedFormatError, match="use CSV, XLSX or JSON"):
        detect_format(b"a table of numbers", name="s3://bucket/data.parquet")


def test_detect_encoding_utf8() -> None:
    assert detect_encoding("city,value\nZürich,1\n東京,2\n".encode()) == "utf-8"


def test_detect_encoding_ascii_is_utf8() -> None:
    assert detect_encoding(b"year,value\n2020,1\n") == "utf-8"


def test_detect_encoding_utf8_sig_bom() -> None:
    assert detect_encoding("\ufeffcity\nZürich\n".encode()) == "utf-8-sig"


def test_detect_encoding_cp1252_with_accent_and_euro() -> None:
    assert detect_encoding("produit;prix\ncafé;3 €\nthé;2 €\n".encode("cp1252")) == "cp1252"


def test_detect_encoding_cp1252_with_accent_as_last_byte() -> None:
    assert detect_encoding("ville\nParis\ncafé".encode("cp1252")) == "cp1252"


def test_detect_encoding_shift_jis_japanese_text() -> None:
    content = "年,都道府県,排出量\n2020,東京都,1.5\n2021,大阪府,2.5\n".encode("shift_jis")
    assert detect_encoding(content) == "shift_jis"


def test_detect_encoding_cp1252_is_not_taken_for_shift_jis() -> None:
    assert detect_encoding("Größe;Änderung\nÄÖÜ;ß\n".encode("cp1252")) == "cp1252"


@pytest.mark.parametrize(
    "content", ["year,value\n".encode("utf-16"), "\ufeffyear,value\n".encode("utf-16-be")], ids=["le", "be"]
)
def test_detect_encoding_utf16_bom(content: bytes) -> None:
    assert detect_encoding(content) == "utf-16"


def test_detect_encoding_utf32_bom() -> None:
    assert detect_encoding("year,value\n".encode("utf-32")) == "utf-32"


def test_detect_encoding_utf8_character_cut_by_sample_end() -> None:
    content = b"a" * ((1 << 20) - 1) + "é".encode() + b"\nend\n"
    assert detect_encoding(content) == "utf-8"


def test_detect_encoding_falls_back_to_latin1() -> None:
    assert detect_encoding(b"value\n\x81\x8d\n") == "latin-1"


def test_read_source_local_csv(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("year,value\n2020,1.5\n".encode("cp1252"))
    data = read_source(str(path), settings=settings)
    assert data.content == b"year,value\n2020,1.5\n"
    assert data.format == SourceFormat.CSV
    assert data.encoding == "utf-8"
    assert data.location == str(path)


def test_read_source_file_url(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(b'[{"year": 2020}]')
    assert read_source(f"file://{path}", settings=settings).format == SourceFormat.JSON


def test_read_source_local_workbook(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(workbook_bytes())
    data = read_source(str(path), settings=settings)
    assert data.format == SourceFormat.XLSX
    assert data.encoding is None


def test_read_source_missing_local_path(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_source(str(tmp_path / "missing.csv"), settings=settings)


def test_read_source_directory_is_no_such_file(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_source(str(tmp_path), settings=settings)


def test_read_source_empty_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="is empty"):
        read_source(str(path), settings=settings)


def test_load_bytes_refuses_local_file_over_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(SourceError, match="2000 bytes, over the limit of 1000"):
        load_bytes(str(path), settings=Settings(fetch_max_bytes=1000))


@pytest.mark.parametrize(
    "location", ["ftp://example.com/data.csv", "gopher://example.com/", "smb://host/share"]
)
def test_load_bytes_refuses_unsupported_scheme(location: str, settings: Settings) -> None:
    with pytest.raises(UnsafeSourceError, match="is not supported"):
        load_bytes(location, settings=settings)


def test_read_source_http_goes_through_fetcher(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    calls: list[str] = []

    def fake_fetch(url: str, *, settings: Settings) -> FetchedResponse:
        calls.append(url)
        link = '<https://api.example/series?id=1&page=2>; rel="next"'
        content = b'{"a": [1]}'
        return FetchedResponse(
            url=url, status=200, content_type="application/json", content=content, link=link
        )

    monkeypatch.setattr(source_module, "fetch_url", fake_fetch)
    data = read_source("https://api.example/series?id=1", settings=settings)
    assert calls == ["https://api.example/series?id=1"]
    assert data.format == SourceFormat.JSON
    assert data.content_type == "application/json"
    assert data.encoding == "utf-8"
    assert data.link.endswith('rel="next"')  # the profile reads pagination from it


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A moto S3 with a `sources` bucket; no real AWS configuration is read."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="sources")
        yield client


def test_read_source_s3_object(s3: Any, settings: Settings) -> None:
    s3.put_object(Bucket="sources", Key="in/data.csv", Body=b"year,value\n2020,1\n", ContentType="text/csv")
    data = read_source("s3://sources/in/data.csv", settings=settings)
    assert data.content == b"year,value\n2020,1\n"
    assert data.format == SourceFormat.CSV
    assert data.content_type == "text/csv"


def test_read_source_s3_workbook(s3: Any, settings: Settings) -> None:
    s3.put_object(Bucket="sources", Key="book.xlsx", Body=workbook_bytes())
    assert read_source("s3://sources/book.xlsx", settings=settings).format == SourceFormat.XLSX


def test_read_source_s3_missing_key_names_s3_error(s3: Any, settings: Settings) -> None:
    with pytest.raises(SourceError, match=r"cannot read s3://sources/missing\.csv: S3 (404|NoSuchKey)"):
        read_source("s3://sources/missing.csv", settings=settings)


def test_read_source_s3_missing_bucket_names_s3_error(s3: Any, settings: Settings) -> None:
    with pytest.raises(SourceError, match=r"S3 (404|NoSuchBucket)"):
        read_source("s3://no-such-bucket/data.csv", settings=settings)


def test_read_source_s3_object_over_cap(s3: Any) -> None:
    s3.put_object(Bucket="sources", Key="big.csv", Body=b"x" * 5000)
    with pytest.raises(SourceError, match="5000 bytes, over the limit of 1000"):
        read_source("s3://sources/big.csv", settings=Settings(fetch_max_bytes=1000))


@pytest.mark.parametrize("location", ["s3://sources", "s3://sources/", "s3:///key.csv"])
def test_read_source_s3_location_without_key(location: str, settings: Settings) -> None:
    with pytest.raises(SourceError, match="expected s3://bucket/key"):
        read_source(location, settings=settings)


def test_check_workbook_accepts_real_openpyxl_workbook(settings: Settings) -> None:
    check_workbook(workbook_bytes(), settings=settings)


def test_check_workbook_accepts_legacy_xls(settings: Settings) -> None:
    check_workbook(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, settings=settings)


def test_check_workbook_refuses_zip_bomb_before_parsing(zip_bomb: bytes, settings: Settings) -> None:
    assert detect_format(zip_bomb) == SourceFormat.XLSX
    with pytest.raises(UnsafeSourceError, match="looks like a zip bomb"):
        check_workbook(zip_bomb, settings=settings)


def test_read_source_refuses_zip_bomb(tmp_path: Path, zip_bomb: bytes, settings: Settings) -> None:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(zip_bomb)
    with pytest.raises(UnsafeSourceError, match="zip bomb"):
        read_source(str(path), settings=settings)


def test_read_source_refuses_zip_bomb_despite_csv_format_hint(
    tmp_path: Path, zip_bomb: bytes, settings: Settings
) -> None:
    path = tmp_path / "bomb.csv"
    path.write_bytes(zip_bomb)
    with pytest.raises(UnsafeSourceError, match="zip bomb"):
        read_source(str(path), settings=settings, format_hint=SourceFormat.CSV)


def test_check_workbook_refuses_unpacked_size_over_limit() -> None:
    content = zip_bytes({**SKELETON, "xl/worksheets/sheet1.xml": os.urandom(50_000).hex().encode()})
    with pytest.raises(UnsafeSourceError, match="over the limit of 10000"):
        check_workbook(content, settings=Settings(xlsx_max_uncompressed_bytes=10_000))


def test_check_workbook_refuses_too_many_parts() -> None:
    content = zip_bytes({**SKELETON, **{f"xl/media/image{n}.png": b"\x89PNG" for n in range(20)}})
    with pytest.raises(UnsafeSourceError, match="23 parts, over the limit"):
        check_workbook(content, settings=Settings(xlsx_max_members=10))


def test_check_workbook_refuses_part_larger_than_its_declared_size(settings: Settings) -> None:
    sheet = b"<worksheet>" + b" " * 10_000_000 + b"</worksheet>"
    content = declare_size(
        zip_bytes({**SKELETON, "xl/worksheets/sheet1.xml": sheet}), "xl/worksheets/sheet1.xml", 200_000
    )
    with pytest.raises(UnsafeSourceError, match="unpacks to more than its declared 200000 bytes"):
        check_workbook(content, settings=settings)


def test_check_workbook_refuses_overlapping_entries(settings: Settings) -> None:
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(100_000)
    content = zip_bytes({**SKELETON, "xl/media/image1.png": image}, compression=zipfile.ZIP_STORED)
    entries, offset = central_entries(content)
    image_entry = next(entry for entry in entries if entry_name(entry) == "xl/media/image1.png")
    overlapping = with_central_entries(content, entries + [image_entry] * 1000, offset)
    with pytest.raises(UnsafeSourceError, match="looks like a zip bomb"):
        check_workbook(overlapping, settings=settings)


def test_check_workbook_refuses_unusual_compression(settings: Settings) -> None:
    content = zip_bytes(
        {**SKELETON, "xl/worksheets/sheet1.xml": b"<worksheet/>"}, compression=zipfile.ZIP_BZIP2
    )
    with pytest.raises(UnsafeSourceError, match="compression method 12"):
        check_workbook(content, settings=settings)


def test_check_workbook_refuses_encrypted_part(settings: Settings) -> None:
    content = zip_bytes({**SKELETON, "xl/worksheets/sheet1.xml": b"<worksheet/>"})
    entries, offset = central_entries(content)
    flagged = [entry[:8] + struct.pack("<H", 1) + entry[10:] for entry in entries]
    with pytest.raises(UnsafeSourceError, match="is encrypted"):
        check_workbook(with_central_entries(content, flagged, offset), settings=settings)


def test_check_workbook_refuses_entity_bomb_in_shared_strings(settings: Settings) -> None:
    content = zip_bytes({**SKELETON, "xl/sharedStrings.xml": LAUGHS.format(encoding="UTF-8").encode()})
    with pytest.raises(UnsafeSourceError, match=r"xl/sharedStrings\.xml declares a DTD or entities"):
        check_workbook(content, settings=settings)


def test_check_workbook_refuses_entity_bomb_in_sheet_of_real_workbook(settings: Settings) -> None:
    dtd = LAUGHS.format(encoding="UTF-8").split("<sst")[0].encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook_bytes())) as original, zipfile.ZipFile(buffer, "w") as patched:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = dtd + data.replace(b"<t>year</t>", b"<t>&lol9;</t>")
            patched.writestr(item, data)
    with pytest.raises(UnsafeSourceError, match=r"sheet1\.xml declares a DTD or entities"):
        check_workbook(buffer.getvalue(), settings=settings)


def test_check_workbook_refuses_entity_bomb_encoded_in_utf16(settings: Settings) -> None:
    strings = LAUGHS.format(encoding="UTF-16").encode("utf-16")
    content = zip_bytes({**SKELETON, "xl/sharedStrings.xml": strings})
    with pytest.raises(UnsafeSourceError, match="declares a DTD or entities"):
        check_workbook(content, settings=settings)


def test_check_workbook_refuses_dtd_after_long_padding(settings: Settings) -> None:
    padding = b"<!-- " + os.urandom(600_000).hex().encode() + b" -->\n"
    strings = LAUGHS.format(encoding="UTF-8").encode().replace(b"?>\n", b"?>\n" + padding, 1)
    content = zip_bytes({**SKELETON, "xl/sharedStrings.xml": strings})
    with pytest.raises(UnsafeSourceError, match="sharedStrings"):
        check_workbook(content, settings=settings)


def test_check_workbook_refuses_dtd_in_part_with_other_extension(settings: Settings) -> None:
    content = zip_bytes({**SKELETON, "xl/strings.bin": LAUGHS.format(encoding="UTF-8").encode()})
    with pytest.raises(UnsafeSourceError, match=r"xl/strings\.bin declares a DTD"):
        check_workbook(content, settings=settings)


def test_check_workbook_refuses_external_entity(settings: Settings) -> None:
    strings = b'<?xml version="1.0"?><!DOCTYPE sst SYSTEM "http://169.254.169.254/dtd"><sst/>'
    content = zip_bytes({**SKELETON, "xl/sharedStrings.xml": strings})
    with pytest.raises(UnsafeSourceError, match="declares a DTD"):
        check_workbook(content, settings=settings)


def test_check_workbook_accepts_comments_and_text_mentioning_doctype(settings: Settings) -> None:
    strings = b'<?xml version="1.0"?><!-- generated --><sst><si><t>&lt;!DOCTYPE is text</t></si></sst>'
    check_workbook(zip_bytes({**SKELETON, "xl/sharedStrings.xml": strings}), settings=settings)


def test_check_workbook_refuses_malformed_xml_part(settings: Settings) -> None:
    content = zip_bytes({**SKELETON, "xl/sharedStrings.xml": b"<?xml version='1.0'?><<sst"})
    with pytest.raises(UnsafeSourceError, match="not well-formed XML"):
        check_workbook(content, settings=settings)


def test_check_workbook_reports_invalid_zip(settings: Settings) -> None:
    with pytest.raises(SourceError, match="not a valid XLSX"):
        check_workbook(b"PK\x03\x04" + b"\x00" * 100, settings=settings)


def test_read_source_refuses_local_paths_when_services_ask(tmp_path: Path) -> None:
    """Services pass allow_local_files=False so a stored source can never name a file on the host."""
    target = tmp_path / "data.csv"
    target.write_text("year,value\n2020,1\n")
    for location in (str(target), f"file://{target}", "/proc/self/environ"):
        with pytest.raises(UnsafeSourceError, match="only http"):
            read_source(location, settings=Settings(), allow_local_files=False)
