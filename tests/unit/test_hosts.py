"""nrt/hosts.py's supervisor: a host that dies or stops answering is taken out of service at
once and restarted with backoff; one that cannot start is retried on the backoff, never in a
tight loop."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from nrt.hosts import BACKOFF, MISSES, ModelHost, ModelHostFailed, Supervisor


class Process:
    def __init__(self, code: int | None = None) -> None:
        self.code = code
        self.killed = False

    def poll(self) -> int | None:
        return self.code

    def kill(self) -> None:
        self.killed = True
        self.code = -9

    def wait(self, timeout: float | None = None) -> int | None:
        return self.code


class World:
    """A clock, the hosts' answers and what the supervisor did."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pings: dict[str, bool] = {}
        self.serving: dict[str, str] = {}
        self.starts: list[str] = []
        self.start_fails: list[str] = []
        self.lines: list[str] = []

    def host(self, endpoint: str, url: str, code: int | None = None) -> ModelHost:
        process: Any = Process(code)
        self.pings[url] = True
        return ModelHost(endpoint, url, process, "v1", Path("/models/m"))

    def start(self, directory: Path, endpoint: str, version: str) -> ModelHost:
        self.starts.append(endpoint)
        if self.start_fails:
            raise ModelHostFailed(self.start_fails.pop(0))
        return self.host(endpoint, f"http://new-{len(self.starts)}", None)

    def supervisor(self) -> Supervisor:
        return Supervisor(
            serve=lambda h: self.serving.__setitem__(h.endpoint, h.url),
            withdraw=lambda e: self.serving.pop(e, None),
            log=self.lines.append,
            clock=lambda: self.now,
            start=self.start,
            ping=lambda url: self.pings.get(url, False),
        )


def test_a_host_that_exited_is_out_of_service_at_once_and_back_after_the_backoff():
    world = World()
    host = world.host("nrt-m", "http://old")
    hosts = {"nrt-m": host}
    world.serving["nrt-m"] = host.url
    supervisor = world.supervisor()
    supervisor.check(hosts)
    assert world.serving == {"nrt-m": "http://old"}

    host.process.code = -9  # type: ignore[attr-defined]  # killed
    supervisor.check(hosts)

    assert hosts == {} and world.serving == {}
    assert "exited (-9)" in supervisor.problems()["nrt-m"]
    assert world.starts == []  # not before the backoff
    world.now += BACKOFF[0]
    supervisor.check(hosts)
    assert world.serving == {"nrt-m": "http://new-1"} and supervisor.problems() == {}
    assert any("restarted" in line for line in world.lines)


def test_a_host_that_stops_answering_its_health_check_is_restarted_after_a_few_misses():
    world = World()
    host = world.host("nrt-m", "http://hung")
    hosts = {"nrt-m": host}
    supervisor = world.supervisor()
    world.pings["http://hung"] = False

    for _ in range(MISSES - 1):
        supervisor.check(hosts)
    assert "nrt-m" in hosts  # one slow answer is not a failure
    supervisor.check(hosts)

    assert hosts == {}
    assert host.process.killed  # type: ignore[attr-defined]
    assert f"did not answer {MISSES} health checks" in supervisor.problems()["nrt-m"]


def test_a_model_that_cannot_start_is_retried_on_a_growing_backoff_with_its_reason():
    world = World()
    hosts = {"nrt-m": world.host("nrt-m", "http://old", code=1)}
    supervisor = world.supervisor()
    supervisor.check(hosts)
    world.start_fails = ["ValueError: broken pickle"] * 3

    tried_at = []
    for _ in range(200):  # 200 rounds of one second
        world.now += 1.0
        before = len(world.starts)
        supervisor.check(hosts)
        if len(world.starts) > before:
            tried_at.append(world.now)
    gaps = [b - a for a, b in itertools.pairwise(tried_at)]

    assert len(tried_at) == 4  # three failures, then it started
    assert gaps == [BACKOFF[1], BACKOFF[2], BACKOFF[3]]
    assert "nrt-m" in hosts


def test_the_reason_names_the_failure_and_when_the_next_try_is():
    world = World()
    hosts = {"nrt-m": world.host("nrt-m", "http://old", code=1)}
    supervisor = world.supervisor()
    supervisor.check(hosts)
    world.start_fails = ["ValueError: broken pickle"]
    world.now += BACKOFF[0]
    supervisor.check(hosts)

    assert supervisor.problems() == {
        "nrt-m": f"cannot start: ValueError: broken pickle; restarting in {BACKOFF[1]:.0f} s (attempt 2)"
    }
    supervisor.forget("nrt-m")
    assert supervisor.problems() == {}
