"""Encodings of text sources: legacy code pages decode right, and a doubtful decode says so."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from shared.common.settings import Settings
from shared.source.read import DECODE_SLICE_BYTES, decode_error, decoding_doubts, detect_encoding, read_source

POLISH = "Miasto;Wartość\nŁódź;1,5\nGdańsk;2,0\nZażółć gęślą jaźń;3\n"
CZECH = "Obec;Počet\nPraha;1\nBrno;2\nČeské Budějovice;3\n"
RUSSIAN = "Город;Значение\nМосква;1,5\nСанкт-Петербург;2\nНовосибирск;3\n"
JAPANESE = "都市,値\n東京,1\n大阪,2\n"
CHINESE = "城市,数值\n北京,1\n上海,2\n广州,3\n"
FRENCH = "Année;Consommation électrique\n2020;très élevée à Genève\n"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (POLISH, "cp1250"),
        (CZECH, "cp1250"),
        (RUSSIAN, "cp1251"),
        (RUSSIAN, "koi8_r"),
        (JAPANESE, "shift_jis"),
        (CHINESE, "gbk"),
        (FRENCH, "cp1252"),
    ],
)
def test_legacy_code_pages_decode_to_the_text_written(text: str, encoding: str) -> None:
    """Central/Eastern European, Cyrillic and CJK code pages are told apart, not read as cp1252."""
    content = text.encode(encoding)
    found = detect_encoding(content)
    assert content.decode(found) == text
    assert decoding_doubts(content, found) == []


def test_the_common_name_is_reported_for_text_a_superset_decodes_the_same() -> None:
    """Japanese that shift_jis reads is reported as shift_jis, not its superset cp932."""
    assert detect_encoding(JAPANESE.encode("shift_jis")) == "shift_jis"


def test_bytes_no_code_page_reads_fall_back_with_a_doubt() -> None:
    """Bytes that are no text in any code page decode as latin-1, and the doubt is said."""
    content = b"a;b\n" + bytes(range(0x80, 0xA0)) * 4 + b"\n"
    encoding = detect_encoding(content)
    doubts = decoding_doubts(content, encoding)
    assert doubts and doubts[0].startswith("the text may be decoded wrongly")


def test_a_wrong_decode_is_not_silent() -> None:
    """UTF-8 read as cp1252 (mojibake) and replacement characters are reported."""
    utf8 = "Année;Température\n2020;élevée\n".encode()
    assert any("UTF-8 read as" in doubt for doubt in decoding_doubts(utf8, "cp1252"))
    assert any("do not decode" in doubt for doubt in decoding_doubts("Ł".encode("cp1250"), "utf-8"))


def test_read_source_carries_the_doubts(tmp_path: Path) -> None:
    """A source whose text looks garbled (UTF-8 once read as cp1252, then saved as UTF-8) gets a warning."""
    path = tmp_path / "garbled.csv"
    path.write_bytes("Année;Température\n2020;élevée\n".encode().decode("cp1252").encode())
    source = read_source(str(path), settings=Settings())
    assert source.encoding == "utf-8"
    assert source.warnings and "UTF-8 read as" in " ".join(source.warnings)
    clean = tmp_path / "clean.csv"
    clean.write_bytes(POLISH.encode("cp1250"))
    assert read_source(str(clean), settings=Settings()).warnings == []


def test_a_bad_byte_past_the_sample_is_not_replaced_silently() -> None:
    """The first megabyte reads as UTF-8, a cp1252 byte comes later: detection says UTF-8, with a doubt."""
    content = b"year,value\n" + b"2020,1\n" * 200_000 + "2021,café\n".encode("cp1252")
    assert detect_encoding(content) == "utf-8"
    assert any("do not decode as utf-8" in doubt for doubt in decoding_doubts(content, "utf-8"))


def whole_decode_error(content: bytes, encoding: str) -> tuple[int, int, str] | None:
    try:
        content.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start, exc.end, exc.reason
    return None


ASCII = b"2020-01-01,1.5\n" * (DECODE_SLICE_BYTES // 15 + 1)
SPLIT = b"x" * (DECODE_SLICE_BYTES - 1) + "é€😀".encode() * 3  # characters across the slices' border


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (ASCII, "utf-8"),
        (SPLIT, "utf-8"),
        (ASCII * 3 + b"\xff" + ASCII, "utf-8"),  # a bad byte slices past the start
        (SPLIT + b"\xe2\x82", "utf-8"),  # cut off inside the last character
        (SPLIT[:DECODE_SLICE_BYTES] + b"\xe2\x82" + ASCII, "utf-8"),  # cut off inside one, then more
        ("Zażółć gęślą jaźń\n".encode("cp1250") * 70_000 + b"\x98", "cp1250"),
        ("東京,1\n".encode("shift_jis") * 200_000 + b"\x81", "shift_jis"),
        ("héllo".encode("utf-16-le") * 200_000, "utf-16"),  # no byte order mark: a whole decode reads it
        (b"", "utf-8"),
    ],
)
def test_decoding_by_slices_finds_what_a_whole_decode_finds(content: bytes, encoding: str) -> None:
    error = decode_error(content, encoding)
    found = None if error is None else (error.start, error.end, error.reason)
    assert found == whole_decode_error(content, encoding)


def test_a_big_source_is_checked_without_a_second_copy_as_text() -> None:
    content = ASCII * 8  # 8 MiB
    tracemalloc.start()
    try:
        doubts = decoding_doubts(content, "utf-8")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert doubts == []
    # The whole decode made an 8 MiB string; a slice at a time holds one slice's text.
    assert peak < len(content) / 2
