"""A `where` hint written into parse code: only the named series are returned, or the real ones are named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.common.errors import GenerationError, HintError
from shared.generate.selection import restrict_code
from shared.validate.policy import check_policy
from shared.wrapper_toolkit import PointColumns

CODE = '''"""Two countries, two sexes."""

from datetime import datetime, timezone


def parse(payload, context):
    """Every series."""
    for geo in ("DE", "FR"):
        for sex in ("F", "M"):
            yield {
                "timestamp": datetime(2020, 1, 1, tzinfo=timezone.utc),
                "value": 1.0,
                "dimensions": {"geo": geo, "sex": sex},
            }
'''


def run(code: str) -> list[dict[str, Any]]:
    namespace: dict[str, Any] = {}
    exec(compile(code, "wrapper.py", "exec"), namespace)  # the test's own code, not a user's
    return list(namespace["parse"](b"", {}))


def test_without_where_the_code_is_unchanged() -> None:
    assert restrict_code(CODE, {}) == CODE


def test_where_keeps_the_series_with_those_values_case_blind() -> None:
    code = restrict_code(CODE, {"GEO": "de", "sex": "F"})

    assert [p["dimensions"] for p in run(code)] == [{"geo": "DE", "sex": "F"}]
    assert not [issue for issue in check_policy(code) if issue.severity == "error"]


def test_an_unknown_dimension_names_the_real_ones() -> None:
    with pytest.raises(HintError, match=r"no dimension 'country'; dimensions: 'geo', 'sex'"):
        run(restrict_code(CODE, {"country": "DE"}))


def test_an_unknown_value_names_the_values_there_are() -> None:
    with pytest.raises(HintError, match=r"dimension 'geo' has no value 'IT'; values: 'DE', 'FR'"):
        run(restrict_code(CODE, {"geo": "IT"}))


def test_code_filtered_before_gets_the_new_values_instead_of_a_second_filter() -> None:
    code = restrict_code(restrict_code(CODE, {"geo": "DE"}), {"geo": "FR"})

    assert code.count("def parse(") == 1 and code.count("WHERE = ") == 1
    assert {p["dimensions"]["geo"] for p in run(code)} == {"FR"}


def test_code_without_a_parse_function_cannot_be_restricted() -> None:
    with pytest.raises(GenerationError, match="no top-level parse function"):
        restrict_code("def read(payload, context):\n    return []\n", {"geo": "DE"})


def test_point_columns_are_filtered_by_their_series_codes() -> None:
    import numpy as np

    from shared.wrapper_toolkit import keep_where

    stamp = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    columns = PointColumns(
        np.array([stamp, stamp, stamp], dtype=np.int64),
        np.array([1.0, 2.0, 3.0]),
        series=[{"geo": "DE"}, {"geo": "FR"}],
        codes=np.array([0, 1, 0], dtype=np.int32),
    )

    kept = keep_where(columns, {"geo": "DE"})

    assert [p["value"] for p in kept] == [1.0, 3.0]


def test_filtered_point_columns_keep_each_point_s_clock() -> None:
    import numpy as np

    from shared.wrapper_toolkit import NAIVE, keep_where

    stamp = int(datetime(2020, 1, 1, 6).replace(tzinfo=UTC).timestamp() * 1_000_000)
    columns = PointColumns(
        np.array([stamp, stamp, stamp], dtype=np.int64),
        np.array([1.0, 2.0, 3.0]),
        series=[{"geo": "DE"}, {"geo": "FR"}],
        codes=np.array([0, 1, 0], dtype=np.int32),
        offsets=np.array([NAIVE, NAIVE, 3600], dtype=np.int32),
    )

    kept = list(keep_where(columns, {"geo": "DE"}))

    assert [p["timestamp"].isoformat() for p in kept] == ["2020-01-01T06:00:00", "2020-01-01T07:00:00+01:00"]
