"""JSON records whose numbers are text with a decimal comma."""

from __future__ import annotations

import json
from pathlib import Path

from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest
from shared.generate import heuristic
from shared.source.profile import build_profile
from shared.source.read import read_source
from shared.wrapper_toolkit import record_points


def test_numbers_written_with_a_decimal_comma_are_read_with_it(tmp_path: Path) -> None:
    records = [{"fecha": f"2021-06-{d:02d}", "precio": f"1{d}1,84", "cargo": "0,03"} for d in range(1, 6)]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"datos": records}))
    draft = heuristic.generate(
        build_profile(read_source(str(path), settings=Settings())), IndicatorRequest(name="precio")
    )
    assert "decimal=','" in draft.parse_code
    points = list(
        record_points(records, time_key="fecha", time_format="iso", value_key="precio", decimal=",")
    )
    assert [p["value"] for p in points][:2] == [111.84, 121.84]
