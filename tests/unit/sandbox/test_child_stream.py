"""Which parse code the child feeds a big payload in blocks of lines, and how it cuts the blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.sandbox import child
from shared.sandbox.child import payload_pieces, stream_plan

LONG_TABLE = '''"""A long table."""

from shared.wrapper_toolkit import find_row, long_points, read_csv_table

HEADER = ['timestamp', 'value']


def parse(payload, context):
    """Read the CSV payload and return its points."""
    grid = read_csv_table(payload, encoding='utf-8', delimiter=',')
    return long_points(
        grid,
        header_row=find_row(grid, HEADER),
        skip_rows=1,
        time_column='timestamp',
        time_format='iso',
        value_column='value',
        dimension_columns=[],
        decimal='.',
        missing=[],
    )
'''


def test_the_generated_long_table_code_is_streamed_with_its_head() -> None:
    assert stream_plan(LONG_TABLE) == {
        "encoding": "utf-8",
        "delimiter": ",",
        "header": {"contains": ["timestamp", "value"], "limit": 500},
        "skip_rows": 1,
    }


def test_a_fixed_header_row_is_streamed_too() -> None:
    code = LONG_TABLE.replace("header_row=find_row(grid, HEADER)", "header_row=3")
    assert stream_plan(code) == {"encoding": "utf-8", "delimiter": ",", "header": 3, "skip_rows": 1}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # long_points arguments that read a table or a block as a whole
        ("missing=[],", "missing=[], title_dimension='sector',"),
        ("missing=[],", "missing=[], until_blank=True,"),
        # anything done besides reading and long_points
        ("    grid = read_csv_table", "    payload = payload[:100]\n    grid = read_csv_table"),
        ("    return long_points(", "    return list(long_points("),
        ("HEADER = ['timestamp', 'value']", "HEADER = ['timestamp', 'value']\nimport json"),
        (
            "from shared.wrapper_toolkit import find_row,",
            "from shared.wrapper_toolkit import keep_where, find_row,",
        ),
        ("encoding='utf-8'", "encoding='utf-16'"),
        ("skip_rows=1", "skip_rows=len(context)"),
        ("header_row=find_row(grid, HEADER)", "header_row=find_row(grid, HEADER) + 1"),
        ("def parse(payload, context):", "def parse(payload, context, extra=None):"),
    ],
)
def test_code_that_is_not_row_by_row_gets_the_payload_whole(old: str, new: str) -> None:
    assert old in LONG_TABLE
    assert stream_plan(LONG_TABLE.replace(old, new)) is None


def test_code_that_does_not_compile_gets_the_payload_whole() -> None:
    assert stream_plan("def parse(payload, context:\n") is None


def write_table(path: Path, rows: int, *, preamble: bytes = b"Meter readings\n\n") -> bytes:
    body = preamble + b"timestamp,value\nunits,kWh\n"
    body += b"".join(b"2020-01-01T%02d:00:00Z,%d\n" % (index % 24, index) for index in range(rows))
    path.write_bytes(body)
    return body


def test_a_big_plain_table_comes_in_blocks_of_whole_lines_each_under_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(child, "STREAM_BLOCK_BYTES", 1000)
    body = write_table(tmp_path / "table.csv", 500)
    head = b"Meter readings\n\ntimestamp,value\nunits,kWh\n"

    pieces = list(payload_pieces(tmp_path / "table.csv", stream_plan(LONG_TABLE)))

    assert len(pieces) > 5
    assert all(piece.startswith(head) and piece.endswith(b"\n") for piece in pieces)
    assert all(len(piece) <= len(head) + 2000 for piece in pieces)
    assert head + b"".join(piece[len(head) :] for piece in pieces) == body


def test_the_last_line_without_a_line_end_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child, "STREAM_BLOCK_BYTES", 1000)
    body = write_table(tmp_path / "table.csv", 300) + b"2021-01-01T00:00:00Z,7"
    (tmp_path / "table.csv").write_bytes(body)

    pieces = list(payload_pieces(tmp_path / "table.csv", stream_plan(LONG_TABLE)))

    head = b"Meter readings\n\ntimestamp,value\nunits,kWh\n"
    assert pieces[-1].endswith(b"\n2021-01-01T00:00:00Z,7")
    assert head + b"".join(piece[len(head) :] for piece in pieces) == body


@pytest.mark.parametrize(
    "damage",
    [b'"quoted, value",1\n', b"2020-01-01T00:00:00Z\r,1\n", b"\x00\n"],
)
def test_text_that_may_not_split_at_every_line_end_comes_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    monkeypatch.setattr(child, "STREAM_BLOCK_BYTES", 1000)
    body = write_table(tmp_path / "table.csv", 500) + damage
    (tmp_path / "table.csv").write_bytes(body)

    assert list(payload_pieces(tmp_path / "table.csv", stream_plan(LONG_TABLE))) == [body]


def test_a_table_whose_header_is_not_in_the_first_block_comes_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(child, "STREAM_BLOCK_BYTES", 1000)
    body = write_table(tmp_path / "table.csv", 500, preamble=b"note\n" * 400)

    assert list(payload_pieces(tmp_path / "table.csv", stream_plan(LONG_TABLE))) == [body]


def test_a_small_payload_or_other_code_gets_the_payload_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = write_table(tmp_path / "table.csv", 50)
    assert list(payload_pieces(tmp_path / "table.csv", stream_plan(LONG_TABLE))) == [body]
    monkeypatch.setattr(child, "STREAM_BLOCK_BYTES", 100)
    assert list(payload_pieces(tmp_path / "table.csv", None)) == [body]
