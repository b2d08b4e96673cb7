"""`resource-service wrap` as a user runs it: a subprocess, stdout for data, stderr for the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "mauna_loa_co2_monthly_de.csv"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the console entry point the way the installed script does."""
    env = {k: v for k, v in os.environ.items() if "GEMINI" not in k}
    return subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        env=env,
    )


def test_wrap_jsonl_prints_exactly_one_point_per_line_and_nothing_else() -> None:
    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2 at Mauna Loa", "--unit", "ppm", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    points = [json.loads(line) for line in lines]
    assert len(points) == 36
    assert all(set(p) == {"timestamp", "value", "dimensions"} for p in points)
    assert points[0] == {"timestamp": "2014-01-01T00:00:00Z", "value": 397.85, "dimensions": {}}
    assert points[-1]["timestamp"] == "2016-12-01T00:00:00Z"
    assert "validating in the sandbox" in result.stderr


def test_wrap_csv_to_file_and_plot_writes_both(tmp_path: Path) -> None:
    out, png = tmp_path / "points.csv", tmp_path / "series.png"
    result = run_cli(
        "wrap",
        str(EXAMPLE),
        "--name",
        "CO2",
        "--format",
        "csv",
        "--out",
        str(out),
        "--plot",
        str(png),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    rows = out.read_text().splitlines()
    assert rows[0] == "timestamp,value"
    assert rows[1] == "2014-01-01T00:00:00Z,397.85"
    assert png.read_bytes().startswith(b"\x89PNG")


def test_wrap_table_with_show_code_prints_the_wrapper_on_stderr() -> None:
    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--show-code")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["timestamp", "value"]
    assert "def parse(payload, context):" in result.stderr
    assert "delimiter=';'" in result.stderr and "encoding='cp1252'" in result.stderr


def test_wrap_missing_file_fails_with_one_line_reason(tmp_path: Path) -> None:
    result = run_cli("wrap", str(tmp_path / "nope.csv"), "--name", "X")
    assert result.returncode == 3
    assert result.stdout == ""
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"resource-service: error: cannot read source: {tmp_path / 'nope.csv'}: no such file"
    )


def test_wrap_unsupported_format_names_the_problem(tmp_path: Path) -> None:
    image = tmp_path / "chart.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    result = run_cli("wrap", str(image), "--name", "X")
    assert result.returncode == 3
    assert "unsupported format" in result.stderr.splitlines()[-1]


def test_wrap_text_without_numbers_says_no_series_found(tmp_path: Path) -> None:
    source = tmp_path / "words.csv"
    source.write_text("name,colour\napple,red\npear,green\n")
    result = run_cli("wrap", str(source), "--name", "X")
    assert result.returncode == 4
    assert "no series found" in result.stderr.splitlines()[-1]


def test_wrap_refuses_a_url_to_a_private_address() -> None:
    result = run_cli("wrap", "http://169.254.169.254/latest/meta-data", "--name", "X")
    assert result.returncode == 3
    assert "not public" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("generator", ["gemini"])
def test_wrap_gemini_without_key_falls_back_to_heuristic_and_says_so(generator: str) -> None:
    result = run_cli("wrap", str(EXAMPLE), "--name", "CO2", "--generator", generator, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 36
    assert "no Gemini API key" in result.stderr


def test_wrap_a_long_hourly_csv_prints_every_row_once(tmp_path: Path) -> None:
    source = tmp_path / "meter.csv"
    hours = 20_000
    lines = ["timestamp,value,meter"]
    for hour in range(hours):
        day, clock = divmod(hour, 24)
        stamp = f"2024-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{clock:02d}:00:00Z"
        year = 2024 + day // (28 * 12)
        lines.append(f"{year}{stamp[4:]},{hour / 8},m{hour % 2}")
    source.write_text("\n".join(lines) + "\n")
    result = run_cli("wrap", str(source), "--name", "Meter readings", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    points = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(points) == hours
    assert points[0] == {"timestamp": "2024-01-01T00:00:00Z", "value": 0.0, "dimensions": {"meter": "m0"}}
    assert points[-1]["value"] == (hours - 1) / 8 and points[-1]["dimensions"] == {"meter": "m1"}
    assert f"{hours} points in 2 series" in result.stderr
