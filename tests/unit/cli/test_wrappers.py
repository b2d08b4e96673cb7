"""Waiting for a wrapper: each new status reported once; ready, failed or timed out."""

from __future__ import annotations

from typing import Any

from shared.cli.client import ClientConfig, ServiceClient
from shared.cli.wrappers import wait_until_ready


class FakeWrappers(ServiceClient):
    """Answers GET /wrappers/{id} with the next status of a script, as the API would."""

    def __init__(self, statuses: list[str]) -> None:
        super().__init__(ClientConfig(api_url="http://unused", api_key="k", timeout_seconds=1))
        self.statuses = statuses
        self.calls = 0

    def get(self, path: str, *, params: Any = None) -> Any:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return {"status": status, "status_reason": "no series found" if status == "failed" else None}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_reports_each_new_status_once_and_ends_ready() -> None:
    clock, said = FakeClock(), list[str]()
    client = FakeWrappers(["pending", "pending", "generating", "validating", "ready"])
    outcome = wait_until_ready(client, "w1", timeout=60, progress=said.append, clock=clock, sleep=clock.sleep)
    assert outcome.ready and not outcome.timed_out
    assert said == [
        "wrapper w1: pending",
        "wrapper w1: generating",
        "wrapper w1: validating",
        "wrapper w1: ready",
    ]


def test_wait_ends_on_failure_with_its_reason() -> None:
    clock = FakeClock()
    outcome = wait_until_ready(
        FakeWrappers(["generating", "failed"]),
        "w1",
        timeout=60,
        progress=print,
        clock=clock,
        sleep=clock.sleep,
    )
    assert (outcome.ready, outcome.status, outcome.reason) == (False, "failed", "no series found")


def test_wait_gives_up_after_the_timeout_on_a_wrapper_that_stays_pending() -> None:
    clock, said = FakeClock(), list[str]()
    client = FakeWrappers(["pending"])
    outcome = wait_until_ready(client, "w1", timeout=5, progress=said.append, clock=clock, sleep=clock.sleep)
    assert outcome.timed_out and outcome.status == "pending" and outcome.waited == 5
    assert said == ["wrapper w1: pending"]
    assert client.calls == 6
