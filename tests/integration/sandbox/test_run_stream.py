"""A big long table parsed in the sandbox block by block yields exactly the points of the whole file."""

from __future__ import annotations

from shared.sandbox.child import STREAM_BLOCK_BYTES
from shared.sandbox.run import ColumnFrame, SandboxLimits, run_parse
from shared.validate.validation import to_points

LIMITS = SandboxLimits(
    wall_seconds=60,
    cpu_seconds=60,
    memory_bytes=2 << 30,
    file_bytes=8 << 20,
    open_files=64,
    output_bytes=256 << 20,
)
CODE = """from shared.wrapper_toolkit import find_row, long_points, read_csv_table

HEADER = ['time', 'value']


def parse(payload, context):
    grid = read_csv_table(payload, encoding='utf-8', delimiter=';')
    return long_points(
        grid,
        header_row=find_row(grid, HEADER),
        skip_rows=1,
        time_column='time',
        time_format='iso',
        value_column='value',
        dimension_columns=['meter'],
        decimal='.',
        missing=[-999.0],
    ){whole}
"""


def big_table() -> bytes:
    """A long table under a preamble, bigger than two blocks, with repeated headers and gaps in it."""
    lines = [b"Meter readings;;", b"", b"time;value;meter", b"(UTC);kWh;"]
    for row in range(300_000):
        day = row // 24
        stamp = b"%04d-%02d-%02dT%02d:00:00Z" % (
            2000 + day // 336,
            day // 28 % 12 + 1,
            day % 28 + 1,
            row % 24,
        )
        value = b"-999" if row % 1000 == 7 else b"%d.%d" % (row % 997, row % 10)
        lines.append(b"%s;%s;%s" % (stamp, value, b"north" if row % 3 else b"south"))
        if row % 50_000 == 49_999:
            lines.append(b"time;value;meter")  # a repeated header row, left out wherever it falls
    payload = b"\n".join(lines) + b"\n"
    assert len(payload) > 2 * STREAM_BLOCK_BYTES
    return payload


def test_a_big_long_table_streamed_in_blocks_yields_the_points_of_the_whole_file() -> None:
    payload = big_table()

    streamed = run_parse(CODE.format(whole=""), [payload], context={}, limits=LIMITS)
    # until_blank=False reads the same rows, but is not a shape the child streams: the file is read whole.
    whole = run_parse(
        CODE.format(whole="  # whole").replace("missing=[-999.0],", "missing=[-999.0], until_blank=False,"),
        [payload],
        context={},
        limits=LIMITS,
    )

    assert streamed.ok and whole.ok, (streamed.error, whole.error)
    assert sum(isinstance(frame, ColumnFrame) for frame in streamed.points) >= 3
    assert sum(isinstance(frame, ColumnFrame) for frame in whole.points) == 1
    streamed_points, streamed_issues = to_points(streamed.points)
    whole_points, whole_issues = to_points(whole.points)
    assert not streamed_issues and not whole_issues
    assert len(streamed_points) > 200_000
    assert streamed_points == whole_points
