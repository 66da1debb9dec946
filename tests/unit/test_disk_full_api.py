"""The local API and the health line on a full disk (nrt/apigateway/server.py, nrt/health.py):
writes refused before anything is accepted, with 503 DiskFull and Retry-After; reads, the
key check and the caller's own mistakes as before; the line names the disk and its recovery."""

from __future__ import annotations

import json
from typing import Any

from nrt import health
from nrt.apigateway.server import make_handler
from nrt.http11 import Request
from nrt.state.space import Full
from tests.helpers.gateway import HEADERS, make

READING = {"model": "failure", "sensor": "s-1", "timestamp": 1795342530000, "data": [12, 87, 20]}


class Disk:
    """Full or not, as the test says."""

    def __init__(self) -> None:
        self.full: Full | None = Full("0 B free under .nrt, less than the 16 MiB it keeps in reserve", since=1.0)

    def __call__(self) -> Full | None:
        return self.full


def request(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Request:
    raw = b"" if body is None else json.dumps(body).encode()
    return Request(method, path, dict(HEADERS if headers is None else headers), raw)


def test_given_a_full_disk_then_each_write_route_answers_503_disk_full_with_retry_after_and_starts_nothing() -> None:
    api, services = make()
    handle, _ = make_handler(api, disk_full=Disk())

    for path in ("/predictions", "/events"):
        reply = handle(request("POST", path, READING))
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "5"
        body = json.loads(reply.body)
        assert set(body) == {"status", "error", "message"}
        assert (body["status"], body["error"]) == (503, "DiskFull")
        assert "0 B free under .nrt" in body["message"] and "nothing was accepted" in body["message"]
    assert services.calls == []


def test_given_a_full_disk_then_reads_and_status_answer_and_a_caller_without_the_key_gets_its_403() -> None:
    api, _ = make()
    handle, _ = make_handler(api, status=lambda: {"disk": {"full": True}}, disk_full=Disk())

    assert handle(request("GET", "/models")).status == 200
    status = handle(request("GET", "/status"))
    assert (status.status, json.loads(status.body)) == (200, {"disk": {"full": True}})
    assert handle(request("POST", "/predictions", READING, {"Content-Type": "application/json"})).status == 403


def test_given_room_then_writes_go_through_and_a_disk_that_fills_while_one_runs_answers_it_as_full() -> None:
    disk = Disk()
    disk.full = None

    def fills_the_disk(action: str, request: dict[str, Any]) -> tuple[int, bytes]:
        disk.full = Full("a write failed: database or disk is full", since=2.0)
        cause = {"status": 503, "error": "StoreUnavailable", "message": "the local store could not keep a write"}
        return 200, json.dumps({"status": "FAILED", "error": "StoreUnavailable", "cause": json.dumps(cause)}).encode()

    api, services = make()
    handle, _ = make_handler(api, disk_full=disk)
    assert handle(request("POST", "/predictions", READING)).status == 200

    services.answer = fills_the_disk
    reply = handle(request("POST", "/predictions", READING))

    assert (reply.status, json.loads(reply.body)["error"], reply.headers["Retry-After"]) == (503, "DiskFull", "5")


def test_given_a_full_disk_then_a_callers_own_mistake_is_still_not_turned_into_a_503() -> None:
    disk = Disk()
    disk.full = None
    api, services = make()
    handle, _ = make_handler(api, disk_full=disk)

    def refuses(action: str, request: dict[str, Any]) -> tuple[int, bytes]:
        disk.full = Full("a write failed: database or disk is full", since=2.0)
        refused = {"status": 400, "error": "InvalidInput", "message": "sensor is missing"}
        return 200, json.dumps({"status": "SUCCEEDED", "output": json.dumps(refused)}).encode()

    services.answer = refuses
    assert handle(request("POST", "/predictions", {"model": "failure"})).status == 400


STATUS: dict[str, Any] = {"readings_per_s": 0.0, "p99_ms": 0, "totals": {}, "failure_store": 0, "lake_lag_s": 0.0}


def test_the_health_line_names_a_full_disk_then_says_once_that_it_has_room_again() -> None:
    news = health.DiskNews()
    full = {
        **STATUS,
        "stream": health.stream_on_full_disk("not reporting for 6 s", disk_full=True, alive=True),
        "disk": {
            "full": True,
            "reason": "0 B free under .nrt, less than the 16 MiB it keeps in reserve",
            "full_for_s": 12.4,
        },
    }
    news.note(full)
    shown = health.line(full)
    assert "disk full: 0 B free under .nrt, less than the 16 MiB it keeps in reserve; new writes refused" in shown
    assert "stream worker holding changes until the disk has room (not reporting for 6 s)" in shown
    assert not health.idle(full)

    room = {**STATUS, "stream": "ok", "disk": {"full": False}}
    news.note(room)
    assert health.line(room).endswith("disk has room again after 12 s of full: writes accepted")
    assert not health.idle(room)
    later = {**STATUS, "stream": "ok", "disk": {"full": False}}
    news.note(later)
    assert "disk" not in health.line(later) and health.idle(later)


def test_a_silent_stream_worker_is_the_disks_doing_only_while_the_disk_is_full_and_the_worker_runs() -> None:
    assert health.stream_on_full_disk("not reporting for 6 s", disk_full=False, alive=True) == "not reporting for 6 s"
    assert health.stream_on_full_disk("not reporting for 6 s", disk_full=True, alive=False) == "not reporting for 6 s"
    assert health.stream_on_full_disk("ok", disk_full=True, alive=True) == "ok"
