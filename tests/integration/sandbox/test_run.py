"""The sandbox against hostile and benign parse code, through shared.sandbox.run.run_parse."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from shared.points.point import format_timestamp
from shared.sandbox import run as sandbox
from shared.sandbox.run import ColumnFrame, SandboxLimits, SandboxResult, import_paths, run_parse
from shared.validate.policy import ALLOWED_MODULES
from shared.validate.validation import to_points

SECRET = "hunter2"
LIMITS = SandboxLimits(
    wall_seconds=10,
    cpu_seconds=5,
    memory_bytes=1 << 30,
    file_bytes=8 << 20,
    open_files=64,
    output_bytes=4 << 20,
)
LAYERS = ("network_namespace", "rlimits", "capabilities", "landlock", "seccomp")
CSV = b"year,country,value\n2019,DE,1.5\n2020,DE,2.5\n2020,FR,3\n"


@pytest.fixture(autouse=True)
def parent_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret in the parent's environment, which no sandboxed code may ever see."""
    monkeypatch.setenv("RS_TEST_SECRET", SECRET)


def run(
    code: str,
    payloads: tuple[bytes, ...] = (CSV,),
    *,
    limits: SandboxLimits = LIMITS,
    audit_hook: bool = True,
    preload: bool = False,
) -> SandboxResult:
    """Run dedented parse code in the sandbox."""
    return run_parse(
        textwrap.dedent(code),
        list(payloads),
        context={"resource_id": "r-1"},
        limits=limits,
        preload_data_libraries=preload,
        audit_hook=audit_hook,
    )


def assert_no_leak(result: SandboxResult) -> None:
    """The parent's secret appears nowhere in what the sandbox handed back."""
    blob = json.dumps(result.points) + (result.error or "") + result.stderr_tail + " ".join(result.violations)
    assert SECRET not in blob


def assert_refused(result: SandboxResult, *needles: str) -> None:
    """The run failed, its error or violations name the problem, and nothing leaked."""
    assert not result.ok
    assert result.points == []
    text = " ".join([result.error or "", *result.violations])
    assert any(needle in text for needle in needles), text
    assert_no_leak(result)


def require_layer(result: SandboxResult, layer: str) -> None:
    """Skip when the platform could not apply a kernel layer (Lambda has no namespaces, for one)."""
    state = str(result.confinement.get(layer, "unavailable: not reported"))
    if state.startswith("unavailable"):
        pytest.skip(f"{layer} {state}")


# --- hostile parse code, audit hook on -------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "192.0.2.1"])
def test_parse_code_opening_a_socket_fails_with_sandbox_error(host: str) -> None:
    result = run(f"""
        import socket

        def parse(payload, context):
            connection = socket.create_connection(("{host}", 5672), timeout=2)
            yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{"peer": str(connection)}}}}
    """)
    assert_refused(result, "socket")
    assert result.error_type == "PermissionError"


def test_parse_code_reading_the_parents_environment_fails() -> None:
    result = run("""
        import os

        def parse(payload, context):
            text = open(f"/proc/{os.getppid()}/environ", "rb").read().decode()
            yield {"timestamp": "2020-01-01", "value": 1, "dimensions": {"env": text}}
    """)
    assert_refused(result, "environ")


def test_parse_code_sees_an_empty_environment() -> None:
    result = run("""
        import os

        def parse(payload, context):
            yield {"timestamp": "2020-01-01", "value": len(os.environ), "dimensions": dict(os.environ)}
    """)
    assert result.ok, result.error
    assert "RS_TEST_SECRET" not in result.points[0][2]
    assert_no_leak(result)


def test_parse_code_reading_etc_passwd_fails() -> None:
    result = run("""
        def parse(payload, context):
            text = open("/etc/passwd").read()
            yield {"timestamp": "2020-01-01", "value": 1, "dimensions": {"passwd": text}}
    """)
    assert_refused(result, "/etc/passwd")


def test_parse_code_reading_a_file_in_the_parents_working_directory_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "credentials"
    secret_file.write_text(SECRET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as under `python -m`, which puts the working directory first
    assert str(tmp_path) not in import_paths()
    result = run(f"""
        def parse(payload, context):
            text = open("{secret_file}").read()
            yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{"s": text}}}}
    """)
    assert_refused(result, "not allowed")


def test_parse_code_reading_the_project_checkout_beyond_shared_fails() -> None:
    pyproject = Path(sandbox.__file__).resolve().parents[2] / "pyproject.toml"
    result = run(f"""
        def parse(payload, context):
            yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{"s": open("{pyproject}").read()}}}}
    """)
    assert_refused(result, "not allowed")


def test_parse_code_writing_outside_its_work_dir_with_os_open_fails(tmp_path: Path) -> None:
    target = tmp_path / "planted.pth"
    result = run(f"""
        import os

        def parse(payload, context):
            os.open("{target}", os.O_WRONLY | os.O_CREAT)
            yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{}}}}
    """)
    assert_refused(result, "writing")
    assert not target.exists()


def test_parse_code_forking_in_a_loop_fails() -> None:
    result = run("""
        import os

        def parse(payload, context):
            while True:
                os.fork()
    """)
    assert_refused(result, "os.fork")


def test_parse_code_spawning_with_posix_spawn_fails() -> None:
    result = run("""
        import os

        def parse(payload, context):
            while True:
                os.posix_spawn("/bin/sh", ["sh", "-c", "true"], {})
    """)
    assert_refused(result, "os.posix_spawn")


def test_parse_code_allocating_without_bound_hits_the_memory_limit() -> None:
    result = run("""
        def parse(payload, context):
            blocks = []
            while True:
                blocks.append(bytearray(64 << 20))
    """)
    assert_refused(result, "memory limit")


def test_parse_code_looping_forever_hits_the_cpu_limit() -> None:
    limits = LIMITS.model_copy(update={"cpu_seconds": 2})
    result = run(
        """
        def parse(payload, context):
            while True:
                pass
        """,
        limits=limits,
    )
    assert_refused(result, "CPU time limit")
    assert result.error_type == "Killed"
    assert result.seconds < limits.wall_seconds


def test_parse_code_sleeping_forever_hits_the_wall_clock_and_leaves_no_process() -> None:
    result = run(
        """
        import time

        def parse(payload, context):
            while True:
                time.sleep(1)
        """,
        limits=LIMITS.model_copy(update={"wall_seconds": 3}),
    )
    assert_refused(result, "wall-clock limit")
    assert result.error_type == "Timeout"
    assert 3 <= result.seconds < 8
    with pytest.raises(ProcessLookupError):
        os.killpg(result.pid, 0)
    with pytest.raises(ProcessLookupError):
        os.kill(result.pid, 0)


def test_parse_code_writing_a_huge_file_hits_the_file_size_limit() -> None:
    result = run("""
        def parse(payload, context):
            with open("huge.bin", "wb") as handle:
                while True:
                    handle.write(b"x" * (1 << 20))
    """)
    assert_refused(result, "file size limit")


@pytest.mark.parametrize(
    ("name", "body", "needle"),
    [
        # import_module skips the audit event of the module itself; subprocess's own imports are refused.
        ("import_module", 'importlib.import_module("subprocess").run(["id"])', "sandbox: importing"),
        ("getattr", 'getattr(os, "sys" + "tem")("id")', "os.system"),
        (
            "builtins",
            'b = __builtins__\nimp = b["__import__"] if isinstance(b, dict) else b.__import__\n'
            'imp("subprocess").run(["id"])',
            "subprocess",
        ),
        (
            "subclasses",
            "for cls in ().__class__.__mro__[1].__subclasses__():\n"
            '    if cls.__name__ == "_wrap_close":\n'
            '        cls.__init__.__globals__["system"]("id")\n'
            'raise RuntimeError("no route to os.system found")',
            "os.system",
        ),
    ],
)
def test_parse_code_reaching_a_shell_through_indirection_fails(name: str, body: str, needle: str) -> None:
    code = "import importlib\nimport os\n\ndef parse(payload, context):\n" + textwrap.indent(body, "    ")
    code += '\n    yield {"timestamp": "2020-01-01", "value": 1, "dimensions": {}}\n'
    assert_refused(run(code), needle)


def test_parse_code_cannot_switch_off_the_audit_hook_through_frames() -> None:
    result = run("""
        import sys

        def parse(payload, context):
            frame = sys._getframe(0)
            while frame is not None:
                for name in ("_active", "BLOCKED_EVENTS", "BLOCKED_MODULES"):
                    if name in frame.f_globals:
                        frame.f_globals[name] = False if name == "_active" else ()
                frame = frame.f_back
            yield {"timestamp": "2020-01-01", "value": 1, "dimensions": {"p": open("/etc/passwd").read()}}
    """)
    assert_refused(result, "sandbox: reading '/etc/passwd' is not allowed")


def test_parse_code_killing_the_parent_fails_and_the_caller_survives() -> None:
    result = run("""
        import os

        def parse(payload, context):
            os.kill(os.getppid(), 9)
            yield {"timestamp": "2020-01-01", "value": 1, "dimensions": {}}
    """)
    assert_refused(result, "os.kill")


def test_a_violation_stays_reported_when_the_code_forges_a_clean_status() -> None:
    result = run("""
        import os

        def parse(payload, context):
            try:
                open("/etc/passwd")
            except PermissionError:
                pass
            os.write(3, b'{"done": true, "count": 0, "violations": []}\\n')
            os._exit(0)
    """)
    assert_refused(result, "/etc/passwd")


@pytest.mark.parametrize(
    "forged",
    [b'{"error": 5}\n', b'{"error": {"line": "x", "type": null}}\n', b"[" * 100_000 + b"\n", b"\xff\xfe\n"],
)
def test_forged_channel_output_fails_the_run_without_crashing_the_caller(forged: bytes) -> None:
    result = run(f"""
        import os

        def parse(payload, context):
            os.write(3, {forged!r})
            os._exit(0)
    """)
    assert not result.ok
    assert result.error_type in {"Error", "ProtocolError"}


@pytest.mark.parametrize(
    ("returned", "message"),
    [("None", "returned None"), ('"2020,1.5"', "returned a str"), ("[42]", "point 0 is a int")],
)
def test_parse_code_returning_non_points_fails_with_a_type_error(returned: str, message: str) -> None:
    result = run(f"""
        def parse(payload, context):
            return {returned}
    """)
    assert_refused(result, message)
    assert result.error_type == "TypeError"


def test_a_nan_value_reaches_the_parent_for_validation() -> None:
    result = run("""
        def parse(payload, context):
            yield {"timestamp": "2020-01-01T00:00:00Z", "value": float("nan"), "dimensions": {}}
    """)
    assert result.ok, result.error
    assert math.isnan(result.points[0][1])


def test_output_beyond_the_cap_stops_the_run_quickly() -> None:
    result = run(
        """
        def parse(payload, context):
            while True:
                yield {"timestamp": "2020-01-01T00:00:00Z", "value": 1.0, "dimensions": {"pad": "x" * 200}}
        """,
        limits=LIMITS.model_copy(update={"output_bytes": 1 << 20}),
    )
    assert_refused(result, "output exceeded")
    assert result.error_type == "OutputLimit"
    assert result.seconds < 5


def test_a_line_cut_off_by_a_kill_gives_way_to_the_reason_of_the_kill() -> None:
    data = b'{"confinement": {"seccomp": "applied"}}\n["2020-01-01T00:00:00Z", 1.0, {}]\n["2020-01-0'
    result = sandbox._interpret(data, -signal.SIGXCPU, "", LIMITS)
    assert not result.ok
    assert result.error == "CPU time limit of 5 s exceeded"
    assert result.confinement == {"seccomp": "applied"}


# --- the kernel layers alone, audit hook off -------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "192.0.2.1"])
def test_kernel_refuses_a_socket_without_the_audit_hook(host: str) -> None:
    result = run(
        f"""
        import socket

        def parse(payload, context):
            socket.create_connection(("{host}", 5672), timeout=2)
            yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{}}}}
        """,
        audit_hook=False,
    )
    require_layer(result, "seccomp")
    assert_refused(result, "Operation not permitted")
    assert result.violations == []


def test_kernel_refuses_a_unix_socket_of_the_host_without_the_audit_hook(tmp_path: Path) -> None:
    path = tmp_path / "daemon.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        result = run(
            f"""
            import socket

            def parse(payload, context):
                client = socket.socket(socket.AF_UNIX)
                client.connect("{path}")
                yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{}}}}
            """,
            audit_hook=False,
        )
    require_layer(result, "seccomp")
    assert_refused(result, "Operation not permitted")


def test_kernel_applies_a_network_namespace() -> None:
    result = run("""
        def parse(payload, context):
            yield {"timestamp": "2020-01-01", "value": 1, "dimensions": {}}
    """)
    require_layer(result, "network_namespace")
    assert result.confinement["network_namespace"] == "applied"


@pytest.mark.parametrize("call", ["os.fork()", 'os.posix_spawn("/bin/sh", ["sh", "-c", "true"], {})'])
def test_kernel_refuses_new_processes_without_the_audit_hook(call: str) -> None:
    result = run(
        f"""
        import os

        def parse(payload, context):
            {call}
            yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{}}}}
        """,
        audit_hook=False,
    )
    require_layer(result, "seccomp")
    assert_refused(result, "Operation not permitted")


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/{ppid}/environ"])
def test_kernel_refuses_reading_outside_the_sandbox_without_the_audit_hook(path: str) -> None:
    result = run(
        f"""
        import os

        def parse(payload, context):
            text = open("{path}".format(ppid=os.getppid())).read()
            yield {{"timestamp": "2020-01-01", "value": 1, "dimensions": {{"text": text}}}}
        """,
        audit_hook=False,
    )
    require_layer(result, "landlock")
    assert_refused(result, "Permission denied")


def test_kernel_refuses_touching_the_parent_without_the_audit_hook() -> None:
    result = run(
        """
        import os
        import resource

        def parse(payload, context):
            errors = []
            for attempt in (
                lambda: os.kill(os.getppid(), 0),
                lambda: resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE),
                lambda: resource.setrlimit(resource.RLIMIT_CPU, (-1, -1)),
            ):
                try:
                    attempt()
                except (OSError, ValueError) as exc:
                    errors.append(type(exc).__name__)
            yield {"timestamp": "2020-01-01", "value": len(errors), "dimensions": {"e": ",".join(errors)}}
        """,
        audit_hook=False,
    )
    require_layer(result, "seccomp")
    assert result.ok, result.error
    assert result.points[0][1] == 3, result.points


def test_caller_survives_a_child_killed_by_an_unnamed_signal() -> None:
    result = run(
        """
        import os

        def parse(payload, context):
            os.kill(os.getpid(), 40)
            yield {"timestamp": "2020-01-01", "value": 1, "dimensions": {}}
        """,
        audit_hook=False,
    )
    assert_refused(result, "killed by signal 40")
    assert result.error_type == "Killed"


# --- benign parse code ----------------------------------------------------------------------------


def test_toolkit_wrapper_succeeds_and_reports_its_confinement() -> None:
    result = run("""
        from shared.wrapper_toolkit import long_points, read_csv_grid

        def parse(payload, context):
            grid = read_csv_grid(payload)
            return long_points(
                grid,
                header_row=0,
                time_column="year",
                time_format="year",
                value_column="value",
                dimension_columns=["country"],
            )
    """)
    assert result.ok, result.error
    [frame] = result.points  # the toolkit's columns come as one frame
    assert isinstance(frame, ColumnFrame)
    points, issues = to_points(result.points)
    assert issues == []
    # Years carry no offset: the sandbox hands them over as wall clocks, validation dates them.
    assert [[format_timestamp(p.timestamp), p.value, p.dimensions] for p in points] == [
        ["2019-01-01T00:00:00", 1.5, {"country": "DE"}],
        ["2020-01-01T00:00:00", 2.5, {"country": "DE"}],
        ["2020-01-01T00:00:00", 3.0, {"country": "FR"}],
    ]
    assert set(LAYERS) <= set(result.confinement)
    assert result.confinement["rlimits"]["cpu_seconds"] == LIMITS.cpu_seconds


def test_pandas_wrapper_succeeds_with_data_libraries_preloaded() -> None:
    result = run(
        """
        import io

        import pandas as pd

        def parse(payload, context):
            frame = pd.read_csv(io.BytesIO(payload))
            for row in frame.itertuples():
                yield {
                    "timestamp": f"{row.year}-01-01T00:00:00Z",
                    "value": float(row.value),
                    "dimensions": {"country": row.country},
                }
        """,
        preload=True,
    )
    assert result.ok, (result.error, result.violations)
    assert [point[1] for point in result.points] == [1.5, 2.5, 3.0]


def test_points_stream_to_a_consumer_in_order_across_batches() -> None:
    batches: list[list[list[Any]]] = []
    result = run_parse(
        textwrap.dedent("""
            def parse(payload, context):
                for hour in range(2500):
                    yield {"timestamp": f"2020-01-01T00:00:{hour % 60:02d}Z", "value": hour, "dimensions": {}}
        """),
        [CSV],
        context={},
        limits=LIMITS,
        on_points=batches.append,
    )
    assert result.ok, result.error
    assert result.points == []
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert [point[1] for batch in batches for point in batch] == [float(hour) for hour in range(2500)]


def test_a_failing_consumer_fails_the_call_after_the_child_is_gone() -> None:
    def refuse(points: list[list[Any]]) -> None:
        raise RuntimeError("consumer broke")

    with pytest.raises(RuntimeError, match="consumer broke"):
        run_parse(
            "def parse(payload, context):\n    return [{'timestamp': '2020-01-01', 'value': 1.0}] * 3000\n",
            [CSV],
            context={},
            limits=LIMITS,
            on_points=refuse,
        )


def test_pandas_is_preloaded_only_for_code_that_imports_beyond_the_toolkit() -> None:
    assert sandbox._data_preload("from shared.wrapper_toolkit import long_points\nimport json\n") == (
        "python_calamine",
    )
    assert sandbox._data_preload("import pandas as pd\n") == sandbox.DATA_PRELOAD
    assert sandbox._data_preload("import itertools\n") == sandbox.DATA_PRELOAD
    assert sandbox._data_preload("from shared import wrapper_toolkit\n") == sandbox.DATA_PRELOAD
    assert sandbox._data_preload("def parse(:\n") == sandbox.DATA_PRELOAD


def test_every_module_the_policy_allows_imports_in_the_sandbox() -> None:
    imports = "".join(f"import {name}\n" for name in sorted(ALLOWED_MODULES - {"__future__"}))
    result = run(imports + "def parse(payload, context):\n    return []\n", preload=True)
    assert result.ok, (result.error, result.violations)


def test_printing_in_parse_does_not_corrupt_the_point_channel() -> None:
    result = run("""
        def parse(payload, context):
            print('["1999-01-01T00:00:00Z", 666.0, {}]')
            print('{"done": true, "count": 0, "violations": []}')
            yield {"timestamp": "2020-01-01T00:00:00Z", "value": 1.0, "dimensions": {}}
            print("between points")
            yield {"timestamp": "2021-01-01T00:00:00Z", "value": 2.0, "dimensions": {}}
    """)
    assert result.ok, result.error
    assert result.points == [["2020-01-01T00:00:00Z", 1.0, {}], ["2021-01-01T00:00:00Z", 2.0, {}]]
    assert "between points" in result.stderr_tail


def test_the_child_exits_at_once_after_its_status_with_its_output_flushed() -> None:
    result = run("""
        import atexit
        import sys

        def parse(payload, context):
            atexit.register(lambda: sys.stderr.write("finalized"))
            print("no line end", end="")
            yield {"timestamp": "2020-01-01T00:00:00Z", "value": 1.0, "dimensions": {}}
    """)
    assert result.ok, result.error
    assert "no line end" in result.stderr_tail
    # The interpreter is not finalized (numpy and pandas took tens of milliseconds to tear down).
    assert "finalized" not in result.stderr_tail


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_waiting_for_the_child_sees_its_exit_and_leaves_it_unreaped(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pidfd:
        monkeypatch.setattr(sandbox, "_open_pidfd", lambda pid: None)
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert not sandbox._wait_unreaped(sleeper.pid, 0.2)
        assert sleeper.stdin is not None
        sleeper.stdin.close()
        assert sandbox._wait_unreaped(sleeper.pid, 30)
        # Still a zombie: its pid, the group id a kill would use, is not free for another process yet.
        assert Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_exception_in_parse_reports_type_message_and_wrapper_line() -> None:
    result = run("""
        def helper(cell):
            raise ValueError(f"bad cell {cell!r}")

        def parse(payload, context):
            return [helper("n/a")]
    """)
    assert not result.ok
    assert result.error_type == "ValueError"
    assert result.error == "bad cell 'n/a'"
    assert result.error_line == 3


def test_caller_is_made_non_dumpable_so_its_proc_files_stay_private() -> None:
    """Without Landlock (Lambda), a non-dumpable caller keeps /proc/<ppid>/environ unreadable."""
    import ctypes

    from shared.sandbox.run import protect_caller

    assert protect_caller() is True

    assert ctypes.CDLL(None).prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE


def test_point_columns_of_the_wrong_shape_fail_the_run() -> None:
    result = run("""
        import numpy

        from shared.wrapper_toolkit import PointColumns

        def parse(payload, context):
            grid = numpy.zeros((2, 2))
            return PointColumns(grid.astype("int64"), grid, series=[{}])
    """)
    assert not result.ok
    assert result.error_type == "ValueError" and "one-dimensional" in str(result.error)
