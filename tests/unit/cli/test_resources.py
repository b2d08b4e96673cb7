"""Arguments of the service commands that are refused before any call to the API (exit 2, one line)."""

from __future__ import annotations

import pytest

from shared.cli.main import main

# Nothing listens there: a command that called the API would exit 6, not 2.
API = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (
            ["resources", "create", "--name", "X", "--url", "https://example.org/d?id=7"],
            "cannot tell the source type from 'https://example.org/d?id=7': give --source-type api|csv|xlsx",
        ),
        (
            ["resources", "create", "--name", "X", "--url", "https://example.org/x.csv", "--where", "geo"],
            "--where takes NAME=VALUE, not 'geo'",
        ),
        (["resources", "points", "r1", "--dimension", "=DE"], "--dimension takes NAME=VALUE, not '=DE'"),
        (["resources", "points", "r1", "--page-size", "0"], "--page-size must be at least 1"),
        (["wrappers", "backfill", "w1", "--from", "yesterday"], "--from: not an ISO 8601 time: 'yesterday'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], reason: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RS_API_KEY", "rs_unused")
    assert main([*argv, "--api", API]) == 2
    assert capsys.readouterr().err == f"resource-service: error: {reason}\n"


def test_points_refuse_a_time_that_is_not_iso_8601(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RS_API_KEY", "rs_unused")
    with pytest.raises(SystemExit) as exit_:
        main(["resources", "points", "r1", "--from", "last week", "--api", API])
    assert exit_.value.code == 2
    assert "not an ISO 8601 time: 'last week'" in capsys.readouterr().err
