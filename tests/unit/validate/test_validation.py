"""Validation reports: static stages stop early, sandbox and point findings are structured."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from shared.common.settings import Settings
from shared.domain.wrapper import FetchSpec, IndicatorRequest, SourceFormat, WrapperDraft
from shared.points.point import Point, PointSequence
from shared.sandbox.run import ColumnFrame, SandboxResult
from shared.validate import validation
from shared.validate.validation import PointBuilder, to_points, validate_wrapper

REQUEST = IndicatorRequest(name="Test indicator")
VALID = "def parse(payload, context):\n    return []\n"


def draft(code: str) -> WrapperDraft:
    """A CSV wrapper draft with the given parse code."""
    return WrapperDraft(
        fetch_spec=FetchSpec(location="test.csv", format=SourceFormat.CSV), parse_code=code, generator="test"
    )


def test_policy_violation_fails_before_any_sandbox_run() -> None:
    report, points = validate_wrapper(
        draft("import os\ndef parse(payload, context):\n    return os.environ\n"),
        [b""],
        request=REQUEST,
        settings=Settings(),
    )
    assert not report.ok and points == []
    assert report.errors[0].stage == "policy" and report.errors[0].code == "import"
    assert report.sandbox_seconds == 0
    assert "[policy/import] (line 1)" in report.feedback()


def test_runtime_error_in_parse_is_reported_with_its_line() -> None:
    code = "def parse(payload, context):\n    rows = payload.split(b'\\n')\n    return rows[99]\n"
    report, _ = validate_wrapper(draft(code), [b"a\nb"], request=REQUEST, settings=Settings())
    assert not report.ok
    error = report.errors[0]
    assert (error.stage, error.code, error.line) == ("sandbox", "run_failed", 3)
    assert "IndexError" in error.message


def test_duplicate_points_fail_validation_with_advice() -> None:
    code = (
        "def parse(payload, context):\n"
        "    return [{'timestamp': '2020-01-01', 'value': 1.0, 'dimensions': {}}] * 2\n"
    )
    report, points = validate_wrapper(draft(code), [b""], request=REQUEST, settings=Settings())
    assert not report.ok and points == []
    assert report.errors[0].code == "duplicate_points"
    assert report.summary is not None and report.summary.count == 2


def test_valid_wrapper_reports_summary_preview_and_confinement() -> None:
    code = (
        "from datetime import datetime\n\n"
        "def parse(payload, context):\n"
        "    for year in range(2000, 2010):\n"
        "        yield {'timestamp': datetime(year, 1, 1), 'value': year / 10, 'dimensions': {'geo': 'CH'}}\n"
    )
    report, points = validate_wrapper(draft(code), [b""], request=REQUEST, settings=Settings())
    assert report.ok, report.feedback()
    assert len(points) == 10
    assert report.summary is not None and report.summary.frequency == "annual"
    assert report.preview[0] == {
        "timestamp": "2000-01-01T00:00:00Z",
        "value": 200.0,
        "dimensions": {"geo": "CH"},
    }
    assert set(report.confinement) >= {"network_namespace", "rlimits", "landlock", "seccomp"}


def test_to_points_reports_bad_rows_without_losing_good_ones() -> None:
    points, issues = to_points([["2020-01-01T00:00:00Z", 1.0, {}], ["not a date", 2.0, {}]])
    assert len(points) == 1
    assert issues[0].code == "invalid_point" and "point 1" in issues[0].message


# --- frames of point columns ----------------------------------------------------------------------

HOUR = 3_600_000_000  # microseconds


def frame(
    stamps: list[int], values: list[float], *, series: Any = None, codes: list[int] | None = None
) -> ColumnFrame:
    """A frame as the channel hands it over."""
    return ColumnFrame(
        count=len(values),
        series=[{}] if series is None else series,
        timestamps=np.array(stamps, dtype="<i8").tobytes(),
        values=np.array(values, dtype="<f8").tobytes(),
        codes=None if codes is None else np.array(codes, dtype="<i4").tobytes(),
    )


def test_frames_become_point_columns_in_order_after_rows() -> None:
    builder = PointBuilder()
    builder.add([["1970-01-01T00:00:00Z", 1.0, {"geo": "DE"}]])
    builder.add([frame([HOUR, 2 * HOUR], [2.0, 3.0], series=[{"geo": "FR"}, {"geo": "DE"}], codes=[1, 0])])
    builder.add([frame([3 * HOUR], [4.0]), ["1970-01-01T04:00:00Z", 5.0, {}]])
    points, issues = builder.result()
    assert issues == []
    assert isinstance(points, PointSequence)
    assert [(p.timestamp.hour, p.value, p.dimensions) for p in points] == [
        (0, 1.0, {"geo": "DE"}),
        (1, 2.0, {"geo": "DE"}),
        (2, 3.0, {"geo": "FR"}),
        (3, 4.0, {}),
        (4, 5.0, {}),
    ]
    assert to_points([frame([0], [1.5])])[0] == [Point(timestamp=datetime(1970, 1, 1, tzinfo=UTC), value=1.5)]


def test_joined_frames_keep_one_copy_of_their_points_and_no_offsets_when_all_are_utc() -> None:
    builder = PointBuilder()
    utc = frame([0, HOUR], [1.0, 2.0])
    builder.add([ColumnFrame(**{**vars(utc), "offsets": np.zeros(2, dtype="<i4").tobytes()})])
    builder.add([frame([2 * HOUR], [3.0])])
    points, _ = builder.result()
    assert isinstance(points, PointSequence)
    assert points.columns.offsets is None and points.columns.codes is None
    # The frames were let go once joined: the builder holds the joined columns only.
    assert len(builder.parts) == 1 and builder.parts[0] is points.columns
    assert [p.value for p in points] == [1.0, 2.0, 3.0]


def test_forged_frames_lose_their_bad_points_and_say_why() -> None:
    outside = (
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    ).total_seconds()
    builder = PointBuilder()
    builder.add(
        [
            frame(
                [0, HOUR, 2 * HOUR, int(outside * 1e6) + 10, 4 * HOUR, 5 * HOUR, 6 * HOUR],
                [1.0, math.nan, math.inf, 4.0, 5.0, 6.0, 7.0],
                series=[{"geo": "DE"}, {"geo": 1}, "not a dict"],
                codes=[0, 0, 7, 0, 1, 2, 7],
            )
        ]
    )
    points, issues = builder.result()
    assert [(p.timestamp.hour, p.value) for p in points] == [(0, 1.0)]
    assert [issue.code for issue in issues] == ["invalid_point"] * 6
    messages = [issue.message for issue in issues]
    assert "point 1 " in messages[0] and messages[0].endswith("value: value must be a finite number")
    assert "point 2 " in messages[1] and "no such series" in messages[1] and "finite" in messages[1]
    assert "point 3 " in messages[2] and messages[2].endswith("timestamp: out of range")
    assert "point 4 " in messages[3] and messages[3].endswith("dimensions: not a dict of strings")
    assert "point 5 " in messages[4] and "'dimensions': 'not a dict'" in messages[4]
    assert messages[5] == "6 invalid points in all"


def test_a_frame_that_names_no_series_is_refused() -> None:
    points, issues = PointBuilder().result()
    assert points == [] and issues == []
    builder = PointBuilder()
    builder.add([frame([0, HOUR], [1.0, 2.0], series="nothing")])
    points, issues = builder.result()
    assert len(points) == 0 and "no such series" in issues[0].message


def test_pages_of_dicts_and_of_toolkit_columns_keep_their_order() -> None:
    code = (
        "from shared.wrapper_toolkit import long_points, read_csv_table\n\n\n"
        "def parse(payload, context):\n"
        "    if context['page'] == 0:\n"
        "        return [{'timestamp': '2019-01-01T00:00:00Z', 'value': 0.5, 'dimensions': {}}]\n"
        "    grid = read_csv_table(payload)\n"
        "    return long_points(\n"
        "        grid, header_row=0, time_column='year', time_format='year', value_column='value'\n"
        "    )\n"
    )
    payload = b"year,value\n" + b"".join(b"%d,%d.25\n" % (2020 + i, i) for i in range(5))
    report, points = validate_wrapper(draft(code), [b"", payload], request=REQUEST, settings=Settings())
    assert report.ok, report.feedback()
    assert isinstance(points, PointSequence)
    assert [(p.timestamp.year, p.value) for p in points] == [(2019, 0.5)] + [
        (2020 + i, i + 0.25) for i in range(5)
    ]
    assert report.summary is not None and (report.summary.count, report.summary.frequency) == (6, "annual")
    assert report.preview[1] == {"timestamp": "2020-01-01T00:00:00Z", "value": 0.25, "dimensions": {}}


def test_points_after_a_false_done_are_checked_with_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(*_args: Any, on_points: Any, on_done: Any, **_kwargs: Any) -> SandboxResult:
        on_points([["2020-01-01T00:00:00Z", 1.0, {}]])
        on_done()  # the child may say it is done and go on
        on_points([["2020-01-01T00:00:00Z", 2.0, {}]])
        on_done()
        on_points([["2021-01-01T00:00:00Z", 3.0, {}]])
        return SandboxResult(ok=True, points=[], confinement={})

    monkeypatch.setattr(validation, "run_parse", run)
    report, _ = validate_wrapper(draft(VALID), [b""], request=REQUEST, settings=Settings())
    assert not report.ok and report.errors[0].code == "duplicate_points"
    assert report.summary is not None and report.summary.count == 3


def test_the_checks_made_while_the_child_exits_are_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(*_args: Any, on_points: Any, on_done: Any, **_kwargs: Any) -> SandboxResult:
        on_points([[f"{2000 + year}-01-01T00:00:00Z", float(year), {}] for year in range(5)])
        on_done()
        monkeypatch.setattr(validation, "check_points", None)  # checked already: not called again
        return SandboxResult(ok=True, points=[], confinement={})

    monkeypatch.setattr(validation, "run_parse", run)
    report, points = validate_wrapper(draft(VALID), [b""], request=REQUEST, settings=Settings())
    assert report.ok, report.feedback()
    assert len(points) == 5 and report.summary is not None and report.summary.frequency == "annual"
