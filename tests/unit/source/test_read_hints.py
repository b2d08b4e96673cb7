"""An `encoding` hint replaces detection, but never lets a wrong decode pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.common.errors import HintError
from shared.common.settings import Settings
from shared.source.read import read_source

# Polish in cp1250: ł and ś are bytes that cp1252 reads as other letters.
TEXT = "Rok;Zużycie\n2020;1,5\n2021;2,5\nŁódź;Śląsk\n"


def test_an_encoding_hint_replaces_detection(tmp_path: Path) -> None:
    path = tmp_path / "pl.csv"
    path.write_bytes(TEXT.encode("cp1250"))

    source = read_source(str(path), settings=Settings(), encoding="cp1250")

    assert source.encoding == "cp1250"
    assert source.content.decode(source.encoding) == TEXT


def test_an_encoding_that_cannot_decode_the_source_is_refused_with_the_detected_one(tmp_path: Path) -> None:
    path = tmp_path / "pl.csv"
    path.write_bytes(TEXT.encode("cp1250"))

    with pytest.raises(HintError, match=r"encoding utf-8: byte b'\\xbf' at offset 6 does not decode"):
        read_source(str(path), settings=Settings(), encoding="utf-8")
