"""`resource-service wrap` with layout hints, hand-written code and the fallback down the ranking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.e2e.cli.test_wrap import EXAMPLE, run_cli

LONG_CSV = "Jahr;Land;Wert\n2020;DE;1,5\n2021;DE;2,5\n2020;FR;3\n2021;FR;4\n"
# Polish headers and values in cp1250, where ż, ł and ś are bytes cp1252 reads as other letters.
POLISH_CSV = "Year;Województwo;Zużycie\n2020;Łódzkie;1,5\n2021;Łódzkie;2,5\n2020;Śląskie;3\n2021;Śląskie;4\n"
# Thousands or decimals: `1,250` alone cannot say which.
AMBIGUOUS_CSV = 'year,price\n2019,"1,250"\n2020,"1,500"\n2021,"1,750"\n'


def points(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


@pytest.fixture
def two_sheets(tmp_path: Path) -> Path:
    """A workbook whose best-matching sheet repeats a year (it cannot validate) beside a clean one."""
    book = Workbook()
    book.remove(book.active)
    best = book.create_sheet("Emissions")
    best.append(["Year", "Emissions (Mt)"])
    for row in ((2019, 10.0), (2020, 11.0), (2020, 11.5), (2021, 12.0)):
        best.append(row)
    clean = book.create_sheet("Data")
    clean.append(["Year", "Value"])
    for row in ((2019, 1.0), (2020, 2.0), (2021, 3.0)):
        clean.append(row)
    path = tmp_path / "two_sheets.xlsx"
    book.save(path)
    return path


@pytest.fixture
def long_csv(tmp_path: Path) -> Path:
    path = tmp_path / "long.csv"
    path.write_text(LONG_CSV, encoding="utf-8")
    return path


def test_a_best_candidate_that_fails_validation_falls_back_to_the_next_and_says_why(two_sheets: Path) -> None:
    result = run_cli("wrap", str(two_sheets), "--name", "Emissions", "--unit", "Mt", "--format", "jsonl")

    assert result.returncode == 0, result.stderr
    assert [p["value"] for p in points(result.stdout)] == [1.0, 2.0, 3.0]
    assert (
        "resource-service: warning: rejected sheet 'Emissions', value column 'Emissions (Mt)': "
        "points/duplicate_points: 1 points repeat a (timestamp, dimensions) pair" in result.stderr
    )


def test_the_fallback_warning_is_printed_even_when_quiet(two_sheets: Path) -> None:
    result = run_cli("wrap", str(two_sheets), "--name", "Emissions", "--format", "jsonl", "--quiet")

    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("resource-service: warning: rejected sheet 'Emissions'")


def test_sheet_hint_picks_the_sheet(two_sheets: Path) -> None:
    result = run_cli("wrap", str(two_sheets), "--name", "Emissions", "--sheet", "data", "--format", "jsonl")

    assert result.returncode == 0, result.stderr
    assert [p["value"] for p in points(result.stdout)] == [1.0, 2.0, 3.0]
    assert "rejected" not in result.stderr


def test_unknown_sheet_exits_2_listing_the_sheets(two_sheets: Path) -> None:
    result = run_cli("wrap", str(two_sheets), "--name", "Emissions", "--sheet", "Tabelle1")

    assert result.returncode == 2 and result.stdout == ""
    assert last_line(result.stderr) == (
        "resource-service: error: sheet 'Tabelle1' is not in the workbook; sheets: 'Emissions', 'Data'"
    )


def test_where_keeps_only_the_named_series(long_csv: Path) -> None:
    result = run_cli("wrap", str(long_csv), "--name", "Wert", "--where", "land=fr", "--format", "jsonl")

    assert result.returncode == 0, result.stderr
    assert points(result.stdout) == [
        {"timestamp": "2020-01-01T00:00:00Z", "value": 3.0, "dimensions": {"Land": "FR"}},
        {"timestamp": "2021-01-01T00:00:00Z", "value": 4.0, "dimensions": {"Land": "FR"}},
    ]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("Land=IT", "where Land=IT: dimension 'Land' has no value 'IT'; values: 'DE', 'FR'"),
        ("geo=DE", "where geo=…: the points have no dimension 'geo'; dimensions: 'Land'"),
        ("Land", "--where 'Land': expected DIM=VALUE, e.g. --where geo=DE"),
    ],
)
def test_a_where_the_points_cannot_meet_exits_2_naming_what_they_have(
    long_csv: Path, where: str, message: str
) -> None:
    result = run_cli("wrap", str(long_csv), "--name", "Wert", "--where", where)

    assert result.returncode == 2 and result.stdout == ""
    assert last_line(result.stderr) == f"resource-service: error: {message}"


def test_value_and_time_column_hints_that_a_reading_uses_are_accepted() -> None:
    result = run_cli(
        "wrap", str(EXAMPLE), "--name", "CO2", "--time-column", "Monat",
        "--value-column", "monatsmittel (ppm)", "--format", "jsonl",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert points(result.stdout)[0]["value"] == 397.85


@pytest.mark.parametrize(("flag", "value"), [("--value-column", "Nope"), ("--time-column", "Jahr")])
def test_a_column_hint_no_reading_uses_exits_2_naming_the_readings(flag: str, value: str) -> None:
    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", flag, value)

    assert result.returncode == 2 and result.stdout == ""
    # The table analysis refuses the name it cannot find and lists the columns the source has.
    error = last_line(result.stderr)
    assert error.startswith("resource-service: error: ") and f"{value!r} not found" in error
    assert "'Monatsmittel (ppm)'" in error


def test_header_rows_are_taken_as_0_based_rows() -> None:
    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--header-rows", "3", "--format", "jsonl")
    assert result.returncode == 0, result.stderr


def test_header_rows_that_are_not_row_numbers_exit_2() -> None:
    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--header-rows", "three")

    assert result.returncode == 2
    assert last_line(result.stderr) == (
        "resource-service: error: --header-rows 'three': expected 0-based rows separated by commas, e.g. 3,4"
    )


def test_timezone_must_be_an_iana_zone() -> None:
    good = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--timezone", "Europe/Berlin", "--format", "jsonl")
    bad = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--timezone", "CET+1")

    assert good.returncode == 0, good.stderr
    assert bad.returncode == 2 and bad.stdout == ""
    assert last_line(bad.stderr) == (
        "resource-service: error: --timezone: 'CET+1' is not an IANA time zone (e.g. Europe/Berlin, UTC)"
    )


def test_decimal_hint_overrides_the_detected_mark(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(AMBIGUOUS_CSV, encoding="utf-8")

    comma = run_cli("wrap", str(path), "--name", "price", "--decimal", ",", "--format", "jsonl")
    dot = run_cli("wrap", str(path), "--name", "price", "--decimal", ".", "--format", "jsonl")

    assert comma.returncode == 0 and dot.returncode == 0, comma.stderr + dot.stderr
    assert [p["value"] for p in points(comma.stdout)] == [1.25, 1.5, 1.75]
    assert [p["value"] for p in points(dot.stdout)] == [1250.0, 1500.0, 1750.0]


def test_decimal_must_be_a_dot_or_a_comma() -> None:
    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--decimal", "'")

    assert result.returncode == 2
    assert last_line(result.stderr) == "resource-service: error: --decimal: Input should be '.' or ','"


def test_encoding_hint_reads_the_source_in_that_encoding(tmp_path: Path) -> None:
    path = tmp_path / "zuzycie.csv"
    path.write_bytes(POLISH_CSV.encode("cp1250"))

    result = run_cli("wrap", str(path), "--name", "Zużycie", "--encoding", "cp1250", "--format", "jsonl")

    assert result.returncode == 0, result.stderr
    assert {p["dimensions"]["Województwo"] for p in points(result.stdout)} == {"Łódzkie", "Śląskie"}


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("utf-8", "encoding utf-8: byte b'\\xf3' at offset 10 does not decode (invalid continuation byte)"),
        ("utf-9", "--encoding: 'utf-9' is not a known text encoding (e.g. utf-8, cp1252, shift_jis)"),
    ],
)
def test_an_encoding_that_does_not_fit_exits_2(tmp_path: Path, encoding: str, message: str) -> None:
    path = tmp_path / "zuzycie.csv"
    path.write_bytes(POLISH_CSV.encode("cp1250"))

    result = run_cli("wrap", str(path), "--name", "Zużycie", "--encoding", encoding)

    assert result.returncode == 2 and result.stdout == ""
    assert last_line(result.stderr).startswith(f"resource-service: error: {message}")


def test_code_from_show_code_runs_as_written_and_prints_the_same_points(tmp_path: Path) -> None:
    # The value column named, so that no `unsure` warning joins the code on stderr.
    shown = run_cli(
        "wrap", str(EXAMPLE), "--name", "CO2", "--value-column", "Monatsmittel (ppm)",
        "--show-code", "--quiet", "--format", "jsonl",
    )  # fmt: skip
    parse = tmp_path / "parse.py"
    parse.write_text(shown.stderr, encoding="utf-8")

    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--code", str(parse), "--format", "jsonl")

    assert shown.returncode == 0 and result.returncode == 0, result.stderr
    assert result.stdout == shown.stdout
    assert "validating the hand-written code in the sandbox" in result.stderr


def test_bad_code_exits_5_with_the_validation_report_and_its_line_numbers(tmp_path: Path) -> None:
    parse = tmp_path / "parse.py"
    parse.write_text(
        '"""Reads a file it may not."""\n\n\ndef parse(payload, context):\n    return open("/etc/passwd")\n',
        encoding="utf-8",
    )

    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--code", str(parse))

    assert result.returncode == 5 and result.stdout == ""
    assert f"validation report of {parse}:\n- [policy/" in result.stderr
    assert "(line 5)" in result.stderr
    assert last_line(result.stderr).startswith(
        "resource-service: error: the parse code failed validation: policy/"
    )


def test_code_that_finds_no_points_exits_5(tmp_path: Path) -> None:
    parse = tmp_path / "parse.py"
    parse.write_text("def parse(payload, context):\n    return []\n", encoding="utf-8")

    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--code", str(parse))

    assert result.returncode == 5
    assert "points/no_points" in last_line(result.stderr)


def test_code_with_layout_hints_exits_2(tmp_path: Path) -> None:
    parse = tmp_path / "parse.py"
    parse.write_text("def parse(payload, context):\n    return []\n", encoding="utf-8")

    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--code", str(parse), "--sheet", "Data")

    assert result.returncode == 2
    assert last_line(result.stderr) == (
        "resource-service: error: --sheet cannot be used with --code: hints steer generated code, "
        "yours runs as written"
    )
