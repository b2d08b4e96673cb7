"""`resource-service messages` arguments: bad ones exit 2 before any broker is asked."""

from __future__ import annotations

import pytest

from shared.cli.main import main


@pytest.mark.parametrize(
    "argv",
    [
        ["messages"],
        ["messages", "parked", "--limit", "0"],
        ["messages", "parked", "--limit", "many"],
        ["messages", "replay"],
        ["messages", "replay", "--all", "--id", "abc"],
        ["messages", "migrate"],
        ["messages", "migrate", "someone_elses_queue"],
    ],
    ids=["no-command", "zero-limit", "word-limit", "replay-what", "all-and-id", "migrate-what", "not-ours"],
)
def test_bad_arguments_exit_2_with_a_usage_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "usage: resource-service messages" in capsys.readouterr().err
