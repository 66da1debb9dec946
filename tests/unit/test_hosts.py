"""nrt/hosts/supervisor.py: hosts start on demand (one start shared by whoever asks meanwhile) and stop when
idle; a host that dies or stops answering is taken out of service at once and not restarted
until the next invocation asks for it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from nrt.hosts.supervisor import MISSES, Hosts, ModelHost


class Process:
    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code

    def kill(self) -> None:
        self.code = -9

    def wait(self, timeout: float | None = None) -> int | None:
        return self.code


class World:
    """The hosts' answers, how long each endpoint has been idle and what the hosts did."""

    def __init__(self) -> None:
        self.pings: dict[str, bool] = {}
        self.idle: dict[str, float] = {}
        self.serving: dict[str, str] = {}
        self.starts: list[tuple[str, str]] = []
        self.lines: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def start(self, directory: Path, endpoint: str, version: str) -> ModelHost:
        assert self.gate.wait(10)
        self.starts.append((endpoint, version))
        url = f"http://host-{len(self.starts)}"
        self.pings[url] = True
        process: Any = Process()
        return ModelHost(endpoint, url, process, version)

    def hosts(self, idle_seconds: float = 300.0) -> Hosts:
        return Hosts(
            route=self.serving.__setitem__,
            withdraw=lambda e: self.serving.pop(e, None),
            idle_for=lambda e: self.idle.get(e, 0.0),
            idle_seconds=idle_seconds,
            log=self.lines.append,
            start=self.start,
            ping=lambda url: self.pings.get(url, False),
        )


def model() -> Path:
    return Path("/models/m")


def test_nothing_starts_until_asked_and_concurrent_asks_share_one_start():
    world = World()
    hosts = world.hosts()
    hosts.check()
    assert world.starts == []
    world.gate.clear()
    urls: list[str] = []
    asks = [threading.Thread(target=lambda: urls.append(hosts.ensure("nrt-m", "v1", model))) for _ in range(4)]
    for ask in asks:
        ask.start()
    world.gate.set()
    for ask in asks:
        ask.join()

    assert world.starts == [("nrt-m", "v1")]
    assert urls == ["http://host-1"] * 4 and world.serving == {"nrt-m": "http://host-1"}


def test_a_new_version_replaces_the_running_host():
    world = World()
    hosts = world.hosts()
    hosts.ensure("nrt-m", "v1", model)
    old = hosts.running["nrt-m"].process

    assert hosts.ensure("nrt-m", "v2", model) == "http://host-2"
    assert old.poll() == -9 and world.serving == {"nrt-m": "http://host-2"}


def test_a_host_that_exits_is_out_of_service_at_once_and_the_next_invocation_starts_it():
    world = World()
    hosts = world.hosts()
    hosts.ensure("nrt-m", "v1", model)
    hosts.running["nrt-m"].process.kill()

    hosts.check()
    hosts.check()

    assert world.serving == {} and world.starts == [("nrt-m", "v1")]  # not restarted in a loop
    assert "exited (-9)" in hosts.down["nrt-m"]
    assert hosts.ensure("nrt-m", "v1", model) == "http://host-2"
    assert hosts.down == {}


def test_a_host_that_stops_answering_is_stopped_after_missed_health_checks():
    world = World()
    hosts = world.hosts()
    hosts.ensure("nrt-m", "v1", model)
    world.pings["http://host-1"] = False

    for _ in range(MISSES - 1):
        hosts.check()
    assert world.serving == {"nrt-m": "http://host-1"}
    hosts.check()

    assert world.serving == {} and f"did not answer {MISSES} health checks" in hosts.down["nrt-m"]


def test_an_idle_host_is_stopped_and_never_with_idle_seconds_zero():
    world = World()
    hosts, forever = world.hosts(idle_seconds=60), world.hosts(idle_seconds=0)
    hosts.ensure("nrt-a", "v1", model)
    forever.ensure("nrt-b", "v1", model)
    world.idle = {"nrt-a": 59.0, "nrt-b": 10_000.0}
    hosts.check()
    forever.check()
    assert set(world.serving) == {"nrt-a", "nrt-b"}

    world.idle["nrt-a"] = 60.0
    hosts.check()

    assert set(world.serving) == {"nrt-b"} and hosts.running == {} and hosts.down == {}
    assert "stopped: idle for 60 s" in world.lines[-1]


def test_the_hosts_of_endpoints_gone_are_stopped():
    world = World()
    hosts = world.hosts()
    hosts.ensure("nrt-a", "v1", model)
    hosts.ensure("nrt-b", "v1", model)

    hosts.keep({"nrt-b"})

    assert set(hosts.running) == {"nrt-b"} and set(world.serving) == {"nrt-b"}
