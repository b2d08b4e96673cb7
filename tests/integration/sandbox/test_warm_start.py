"""The spare sandbox child: started ahead, handed to one run only, replaced when dead, never left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.common.settings import Settings
from shared.domain.wrapper import FetchSpec, IndicatorRequest, SourceFormat, WrapperDraft
from shared.sandbox.run import (
    SPARE_PRELOAD,
    SandboxLimits,
    SandboxResult,
    discard_spare,
    import_paths,
    prepare_sandbox,
    run_parse,
)
from shared.sandbox.spare import CHILD_ENVIRONMENT, SPARES, ChildFit, SandboxChild
from shared.validate.validation import validate_wrapper

LIMITS = SandboxLimits(
    wall_seconds=20,
    cpu_seconds=10,
    memory_bytes=1 << 30,
    file_bytes=8 << 20,
    open_files=64,
    output_bytes=4 << 20,
)
# Yields the number the run was given, so that a run handed another run's child would show it.
ECHO = """
from shared.wrapper_toolkit import long_points

def parse(payload, context):
    yield {"timestamp": "2020-01-01", "value": context["n"], "dimensions": {}}
"""
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def no_spare() -> Iterator[None]:
    """Each test starts without a spare and leaves none behind."""
    discard_spare()
    yield
    discard_spare()


def echo(n: int = 1, *, warm_start: bool = True, code: str = ECHO) -> SandboxResult:
    result = run_parse(code, [b"x"], context={"n": n}, limits=LIMITS, warm_start=warm_start)
    assert result.ok, result.error
    assert result.points[0][1] == n
    return result


def spare() -> SandboxChild:
    """The spare, once started (without taking it)."""
    child = SPARES.ready()
    assert child is not None and child.alive()
    return child


def ended(pid: int, seconds: float = 20) -> bool:
    """Whether the process is gone (or a zombie) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_a_run_takes_the_spare_started_before_it() -> None:
    prepare_sandbox(Settings())
    waiting = spare()
    result = echo()
    assert result.pid == waiting.pid
    assert ended(waiting.pid)
    assert not waiting.work_dir.exists()


def test_a_child_starts_with_only_the_malloc_tunables_and_its_code_sees_none_of_them() -> None:
    prepare_sandbox(Settings())
    # The dynamic loader splits the tunables at their `:` in place when it reads them.
    started = Path(f"/proc/{spare().pid}/environ").read_bytes().rstrip(b"\0").replace(b"\0", b":")
    assert [started.decode()] == [f"{k}={v}" for k, v in CHILD_ENVIRONMENT.items()]
    result = run_parse(
        "import os\ndef parse(payload, context):\n"
        "    yield {'timestamp': '2020-01-01', 'value': 1, 'dimensions': dict(os.environ)}\n",
        [b"x"],
        context={},
        limits=LIMITS,
    )
    assert result.ok, result.error
    assert "GLIBC_TUNABLES" not in result.points[0][2]


def test_the_next_spare_is_started_after_a_run_and_serves_the_next_run() -> None:
    first = echo(1)
    following = spare()
    assert following.pid != first.pid
    assert echo(2).pid == following.pid


def test_a_spare_takes_a_run_that_asks_for_pandas_and_loads_it_after_its_configuration() -> None:
    prepare_sandbox(Settings())
    waiting = spare()
    code = textwrap.dedent("""
        import pandas as pd

        def parse(payload, context):
            frame = pd.DataFrame({"value": [float(context["n"])]})
            yield {"timestamp": "2020-01-01", "value": float(frame["value"].sum()), "dimensions": {}}
    """)
    assert echo(7, code=code).pid == waiting.pid


def test_a_dead_spare_is_replaced_by_a_fresh_child() -> None:
    prepare_sandbox(Settings())
    dead = spare()
    os.killpg(dead.pid, signal.SIGKILL)
    os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)
    result = echo()
    assert result.pid != dead.pid
    assert not dead.work_dir.exists()
    assert spare().pid not in (dead.pid, result.pid)


def spare_dead_when_taken(monkeypatch: pytest.MonkeyPatch) -> SandboxChild:
    """The spare, killed as if it died between the check that it lives and the hand-over of a run."""
    prepare_sandbox(Settings())
    dead = spare()
    os.killpg(dead.pid, signal.SIGKILL)
    os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)
    monkeypatch.setattr(dead, "alive", lambda: True)
    return dead


def test_a_spare_that_dies_after_it_was_taken_gives_way_to_a_fresh_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = spare_dead_when_taken(monkeypatch)
    result = echo()
    assert result.pid != dead.pid
    assert dead.process.returncode == -signal.SIGKILL
    assert not dead.work_dir.exists()


def runs_at_once(count: int) -> dict[int, SandboxResult]:
    """Results of `count` runs started together from threads of their own, by the number each was given."""
    barrier = threading.Barrier(count)
    results: dict[int, SandboxResult] = {}

    def run(n: int) -> None:
        barrier.wait()
        results[n] = echo(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_threads_never_share_one_child() -> None:
    for _ in range(3):
        prepare_sandbox(Settings())
        waiting = spare()
        results = runs_at_once(4)
        assert sorted(results) == [0, 1, 2, 3]  # and each saw its own number (echo checks it)
        pids = [result.pid for result in results.values()]
        assert len(set(pids)) == 4
        assert pids.count(waiting.pid) == 1
        discard_spare()


def test_a_spare_ends_when_its_stdin_closes() -> None:
    child = SandboxChild.start(ChildFit.current(import_paths(), SPARE_PRELOAD), spare=True)
    work_dir = child.work_dir
    assert child.process.stdin is not None
    child.process.stdin.close()
    assert child.process.wait(timeout=30) == 0
    # The empty work directory went with it.
    assert not work_dir.exists()
    child.discard()


def spare_of_a_process(ending: str) -> tuple[int, str]:
    """Start a process that prepares a spare, says its pid and work directory, then ends as `ending` says."""
    script = textwrap.dedent(f"""
        import json, os, sys
        from shared.common.settings import Settings
        from shared.sandbox.run import prepare_sandbox
        from shared.sandbox.spare import SPARES

        prepare_sandbox(Settings())
        child = SPARES.ready()
        print(json.dumps([child.pid, str(child.work_dir)]), flush=True)
        {ending}
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    pid, work_dir = json.loads(done.stdout)
    return int(pid), str(work_dir)


def test_a_spare_ends_with_its_parent_even_when_the_parent_cannot_clean_up() -> None:
    pid, work_dir = spare_of_a_process("os._exit(0)")  # no atexit: only the end of the pipe tells the spare
    assert ended(pid)
    assert not Path(work_dir).exists()


def test_a_spare_is_ended_at_interpreter_exit() -> None:
    pid, work_dir = spare_of_a_process("sys.exit(0)")
    assert ended(pid)
    assert not Path(work_dir).exists()


def test_turning_warm_start_off_starts_a_fresh_child_and_leaves_the_spare() -> None:
    prepare_sandbox(Settings())
    waiting = spare()
    assert echo(warm_start=False).pid != waiting.pid
    assert spare() is waiting


def test_the_setting_turns_warm_start_off_for_validation_and_for_preparing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RS_SANDBOX_WARM_START", "false")
    off = Settings()
    prepare_sandbox(off)
    assert SPARES.ready() is None
    prepare_sandbox(Settings(sandbox_warm_start=True))
    waiting = spare()
    draft = WrapperDraft(
        fetch_spec=FetchSpec(location="a.csv", format=SourceFormat.CSV),
        parse_code=ECHO.replace('context["n"]', "1"),
        generator="manual",
    )
    report, points = validate_wrapper(draft, [b"x"], request=IndicatorRequest(name="x"), settings=off)
    assert report.ok and len(points) == 1
    assert spare() is waiting


def test_a_run_that_preloads_less_than_the_spare_leaves_it_for_the_next_run() -> None:
    prepare_sandbox(Settings())
    waiting = spare()
    result = run_parse(ECHO, [b"x"], context={"n": 1}, limits=LIMITS, preload_data_libraries=False)
    assert result.ok and result.pid != waiting.pid
    assert spare() is waiting


def test_a_spare_for_another_temporary_directory_is_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_sandbox(Settings())
    stale = spare()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = echo()
    assert result.pid != stale.pid
    assert ended(stale.pid) and not stale.work_dir.exists()
    assert spare().work_dir.parent == tmp_path


def test_a_spare_that_cannot_be_started_leaves_none_and_no_failing_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    failures: list[object] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    prepare_sandbox(Settings())
    assert SPARES.ready() is None
    assert failures == []


def test_a_forked_process_never_uses_the_parents_spare() -> None:
    prepare_sandbox(Settings())
    waiting = spare()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if SPARES.ready(0) is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert spare() is waiting
    assert echo().pid == waiting.pid


SIZE = """
def parse(payload, context):
    yield {"timestamp": "2020-01-01", "value": float(len(payload)), "dimensions": {}}
"""


@pytest.mark.parametrize("release", [True, False])
def test_payloads_handed_over_are_let_go_once_the_child_has_them_only_when_asked(release: bool) -> None:
    payloads = [b"x" * 5_000]
    result = run_parse(SIZE, payloads, context={}, limits=LIMITS, release_payloads=release)
    assert result.ok and [point[1] for point in result.points] == [5_000.0]
    assert payloads == ([] if release else [b"x" * 5_000])


def test_payloads_let_go_still_reach_the_fresh_child_that_replaces_a_spare_gone_before_its_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = spare_dead_when_taken(monkeypatch)
    payloads = [b"y" * 7_000]
    result = run_parse(SIZE, payloads, context={}, limits=LIMITS, release_payloads=True)
    assert result.pid != dead.pid
    assert result.ok and [point[1] for point in result.points] == [7_000.0]
    assert payloads == []
