"""Validation reports: static stages stop early, sandbox and point findings are structured."""

from __future__ import annotations

from shared.settings import Settings
from shared.validation import to_points, validate_wrapper
from shared.wrapper import FetchSpec, IndicatorRequest, SourceFormat, WrapperDraft

REQUEST = IndicatorRequest(name="Test indicator")


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
