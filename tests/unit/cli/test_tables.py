"""Text tables for people: aligned columns, `-` for nothing, times to the minute."""

from __future__ import annotations

import io

from shared.cli.tables import short_time, write_table


def test_tables_align_columns_and_mark_missing_cells() -> None:
    out = io.StringIO()
    rows: list[dict[str, object]] = [{"id": "r1", "name": "CO2"}, {"id": "r22", "name": None}]
    write_table(rows, [("ID", lambda r: r["id"]), ("NAME", lambda r: r["name"])], out)
    assert out.getvalue().splitlines() == ["ID   NAME", "r1   CO2", "r22  -"]
    assert short_time("2026-12-04T16:01:02.5Z") == "2026-12-04 16:01Z"
