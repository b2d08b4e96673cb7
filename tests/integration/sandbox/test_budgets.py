"""Hostile parse code against the budgets of a run: disk bytes, file count, points, and a forged channel."""

from __future__ import annotations

import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from shared.sandbox.run import SandboxLimits, SandboxResult, discard_spare, run_parse
from shared.validate.validation import PointBuilder, ValidationIssue, sandbox_issues

T = TypeVar("T")
MB = 1024 * 1024
LIMITS = SandboxLimits(
    wall_seconds=60,
    cpu_seconds=60,
    memory_bytes=2 << 30,
    file_bytes=64 * MB,
    open_files=64,
    output_bytes=1 << 30,
    max_points=5_000_000,
    disk_bytes=128 * MB,
    max_files=1_000,
)
# What the caller may add to its peak RSS while a run is refused: the points it accepted as columns (24
# bytes each at most), one frame or batch in flight, the Points of one fold.
CALLER_BUDGET = 320 * MB


@pytest.fixture(autouse=True)
def work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Work directories made under a directory of the test's own, which must be empty afterwards."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path
    # The spare child started after the run holds a work directory of its own until it is used or ended.
    discard_spare()
    assert list(tmp_path.iterdir()) == [], "a work directory was left behind"


def validate(
    code: str, *, limits: SandboxLimits = LIMITS, payloads: int = 1, tmpfs: bool = True
) -> tuple[SandboxResult, list[ValidationIssue]]:
    """Run dedented parse code as validation does: points checked as they stream into a PointBuilder."""
    builder = PointBuilder()
    result = run_parse(
        textwrap.dedent(code),
        [b"x"] * payloads,
        context={},
        limits=limits,
        on_points=builder.add,
        tmpfs=tmpfs,
    )
    return result, sandbox_issues(result)


def require_tmpfs(result: SandboxResult, *, tmpfs: bool) -> None:
    """Skip the tmpfs case where the platform has no mount namespace; the watchdog case always runs."""
    disk = str(result.confinement.get("disk", ""))
    if tmpfs and not disk.startswith("tmpfs"):
        pytest.skip(f"no tmpfs: {disk}")
    assert disk.startswith("tmpfs" if tmpfs else "watchdog"), disk


DISK_HOLDERS = pytest.mark.parametrize("tmpfs", [True, False], ids=["tmpfs", "watchdog"])


def refused_for(issues: list[ValidationIssue], needle: str) -> None:
    """The validation report fails with a sandbox violation whose message names the budget."""
    [issue] = [issue for issue in issues if issue.severity == "error"]
    assert issue.stage == "sandbox" and issue.code == "sandbox_violation"
    assert needle in issue.message, issue.message


def status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {name} in /proc/self/status")


def peak_growth(call: Callable[[], T]) -> tuple[T, int]:
    """What `call` returns and how far it raised this process's peak resident memory above where it was."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    before = status_kib("VmRSS")
    value = call()
    return value, (status_kib("VmHWM") - before) * 1024


@DISK_HOLDERS
def test_parse_code_writing_many_60_mb_files_is_stopped_at_the_disk_budget(tmpfs: bool) -> None:
    result, issues = validate(
        """
        def parse(payload, context):
            block = b"x" * (60 * 1024 * 1024)
            for index in range(50):
                with open(f"fill-{index}.bin", "wb") as handle:
                    handle.write(block)
            return []
        """,
        tmpfs=tmpfs,
    )
    require_tmpfs(result, tmpfs=tmpfs)
    refused_for(issues, "disk budget of 128 MB exceeded")
    assert result.error_type == "BudgetExceeded"
    # The tmpfs holds one page over the budget. The watchdog measures every DISK_POLL_SECONDS and kills on
    # the first measurement over it; a 60 MB file can land in the page cache in less than that, so a file or
    # two may be written between the crossing and the kill (a CI run measured 196 MiB, 68 MiB over the
    # budget, past a ceiling of one 64 MiB file). Either way the child is stopped long before its 3,000 MB.
    ceiling = LIMITS.disk_bytes + (4096 if tmpfs else 4 * LIMITS.file_bytes)
    assert LIMITS.disk_bytes < result.disk_peak_bytes <= ceiling


@DISK_HOLDERS
def test_parse_code_creating_100000_empty_files_is_stopped_at_the_file_budget(tmpfs: bool) -> None:
    result, issues = validate(
        """
        def parse(payload, context):
            for index in range(100_000):
                open(f"empty-{index}", "wb").close()
            return []
        """,
        tmpfs=tmpfs,
    )
    require_tmpfs(result, tmpfs=tmpfs)
    refused_for(issues, "file budget of 1000 files and directories exceeded")
    ceiling = LIMITS.max_files + 1 if tmpfs else 2 * LIMITS.max_files
    assert LIMITS.max_files < result.disk_peak_files <= ceiling


@DISK_HOLDERS
def test_a_run_within_the_disk_budget_passes_and_reports_what_it_used(tmpfs: bool) -> None:
    result, issues = validate(
        """
        def parse(payload, context):
            with open("scratch.bin", "wb") as handle:
                handle.write(b"x" * (8 * 1024 * 1024))
            yield {"timestamp": "2020-01-01T00:00:00Z", "value": 1.0, "dimensions": {}}
        """,
        tmpfs=tmpfs,
    )
    require_tmpfs(result, tmpfs=tmpfs)
    assert result.ok, result.error
    assert issues == []
    assert 8 * 1024 * 1024 <= result.disk_peak_bytes <= LIMITS.disk_bytes


def test_3m_yielded_points_stop_at_the_points_budget_with_the_caller_memory_bounded() -> None:
    limits = LIMITS.model_copy(update={"max_points": 500_000})
    (_, issues), growth = peak_growth(
        lambda: validate(
            """
            def parse(payload, context):
                for index in range(3_000_000):
                    yield {"timestamp": "2020-01-01T00:00:00Z", "value": float(index), "dimensions": {}}
            """,
            limits=limits,
        )
    )
    refused_for(issues, "points budget of 500000 points exceeded")
    assert growth < CALLER_BUDGET, f"caller peak grew by {growth / MB:.0f} MB"


@pytest.mark.parametrize("frames", [1, 30], ids=["one-frame", "30-frames"])
def test_30m_points_as_binary_frames_stop_at_the_points_budget_with_the_caller_memory_bounded(
    frames: int,
) -> None:
    code = f"""
        import numpy as np
        from shared.wrapper_toolkit import PointColumns

        def parse(payload, context):
            size = 30_000_000 // {frames}
            stamps = np.arange(size, dtype=np.int64) * 1_000_000
            return PointColumns(stamps, np.ones(size, dtype=np.float64), series=[{{}}])
    """
    (result, issues), growth = peak_growth(lambda: validate(code, payloads=frames))
    refused_for(issues, f"points budget of {LIMITS.max_points} points exceeded")
    assert result.error_type == "BudgetExceeded"
    assert growth < CALLER_BUDGET, f"caller peak grew by {growth / MB:.0f} MB"


def test_a_forged_clean_status_after_a_refused_action_still_fails_the_run() -> None:
    result, issues = validate("""
        import os

        def parse(payload, context):
            try:
                open("/etc/passwd")
            except PermissionError:
                pass
            # A frame header that would swallow what follows, then a clean status, on the result channel.
            os.write(3, b'{"columns": {"count": 0, "series": [{}], "coded": false}}\\n')
            os.write(3, b'{"done": true, "count": 0, "violations": []}\\n')
            os._exit(0)
    """)
    refused_for(issues, "/etc/passwd")
    assert "sandbox: reading '/etc/passwd' is not allowed (outside the sandbox)" in result.violations


@pytest.mark.parametrize(
    "tamper",
    [
        "os.close(fd)",
        'os.dup2(os.open("decoy", os.O_WRONLY | os.O_CREAT), fd)',
        "r, w = os.pipe()\n    os.dup2(w, fd)",
        'os.write(fd, b\'{"violation": "harmless\')',
    ],
    ids=["closed", "replaced-by-a-file", "replaced-by-a-pipe", "unterminated-line"],
)
def test_tampering_with_the_violation_pipe_cannot_hide_a_violation(tamper: str) -> None:
    code = textwrap.dedent("""
        import os
        import stat

        def parse(payload, context):
            # The one pipe beyond stdout, stderr and the result channel (3) is the violation pipe.
            [fd] = [fd for fd in range(4, 64) if is_pipe(fd)]
            TAMPER
            try:
                open("/etc/passwd")
            except PermissionError:
                pass
            os.write(3, b'{"done": true, "count": 0, "violations": []}\\n')
            os._exit(0)

        def is_pipe(fd):
            try:
                return stat.S_ISFIFO(os.fstat(fd).st_mode)
            except OSError:
                return False
    """).replace("TAMPER", tamper)
    result, issues = validate(code)
    assert not result.ok and result.error_type == "SandboxViolation"
    assert [issue.code for issue in issues if issue.severity == "error"] == ["sandbox_violation"]


def test_a_nested_line_on_the_channel_fails_the_run_as_unreadable() -> None:
    result, _ = validate("""
        import os

        def parse(payload, context):
            os.write(3, b'[[[[[[[[[[[["2020-01-01T00:00:00Z", 1.0, {}]]]]]]]]]]]]\\n')
            os.write(3, b'{"done": true, "count": 0, "violations": []}\\n')
            os._exit(0)
    """)
    assert not result.ok and result.error_type == "ProtocolError"


def test_the_tmpfs_never_appears_in_the_callers_mount_namespace(work_root: Path) -> None:
    result, _ = validate("""
        def parse(payload, context):
            open("scratch.bin", "wb").close()
            yield {"timestamp": "2020-01-01T00:00:00Z", "value": 1.0, "dimensions": {}}
    """)
    require_tmpfs(result, tmpfs=True)
    assert result.ok, result.error
    assert str(work_root) not in Path("/proc/self/mountinfo").read_text()
