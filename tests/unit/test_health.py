"""The health line's figures: a sliding window of answers, the stream worker's report."""

from __future__ import annotations

import json

from nrt.health import Health, lake_lag, line, write_stream_status


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_given_answers_in_the_window_then_readings_per_second_and_p99_count_only_those():
    clock = Clock()
    health = Health(window_seconds=10, clock=clock)
    health.record(200, 5.0, 50)  # falls out of the window below
    clock.now += 11
    for ms in range(1, 101):
        health.record(200, ms / 1000, 1)
    health.record(503, 0.2, 50)

    window = health.window()

    assert window["readings_per_s"] == 15.0  # (100 + 50) readings / 10 s
    assert window["p99_ms"] == 100.0
    assert window["errors_in_window"] == 1
    assert window["totals"] == {"readings": 200, "requests": 102, "2xx": 101, "5xx": 1}


def test_given_a_worker_holding_changes_then_the_lag_is_the_oldest_s_age(tmp_path):
    path = tmp_path / "checkpoints" / "stream-status.json"
    write_stream_status(path, buffered=3, oldest_ms=1_000, rows_total=42)
    at = json.loads(path.read_text())["at_ms"]

    lag = lake_lag(path, now_ms=at + 1)

    assert lag["lake_lag_s"] == round((at + 1 - 1_000) / 1000, 1)
    assert lag["lake_rows"] == 42
    assert lag["stream"] == "ok"


def test_given_a_silent_worker_then_it_is_reported_as_not_reporting(tmp_path):
    path = tmp_path / "stream-status.json"
    assert lake_lag(path) == {"lake_lag_s": None, "stream": "not reporting"}
    write_stream_status(path, buffered=0, oldest_ms=None, rows_total=0)
    at = json.loads(path.read_text())["at_ms"]

    assert lake_lag(path, now_ms=at + 30_000)["stream"] == "not reporting for 30 s"
    assert lake_lag(path, now_ms=at + 30_000)["lake_lag_s"] == 0.0


def test_the_line_names_every_figure():
    status = {
        "readings_per_s": 42.0,
        "p99_ms": 120.4,
        "totals": {"requests": 1200, "4xx": 3, "5xx": 1},
        "failure_store": 4,
        "lake_lag_s": 1.25,
        "stream": "ok",
        "faults_injected": {"throttle": 2, "model_error": 5},
    }

    assert line(status) == (
        "health  42.0 readings/s  p99 120 ms  answered 1200 (4xx 3, 5xx 1)  failure store 4  lake lag 1.2 s"
        "  faults model_error 5, throttle 2"
    )
    assert line({"stream": "not reporting", "lake_lag_s": None}).endswith("lake lag ?  stream worker not reporting")


def test_the_dashboard_page_is_made_at_most_once_every_few_seconds():
    from nrt.lake.dashboard import CachedPage

    now = [0.0]
    made: list[int] = []

    def make() -> str:
        made.append(1)
        return f"page {len(made)}"

    page = CachedPage(make, seconds=5.0, clock=lambda: now[0])
    assert [page() for _ in range(8)] == ["page 1"] * 8
    now[0] = 4.9
    assert page() == "page 1"
    now[0] = 5.0
    assert page() == "page 2"
    assert len(made) == 2


def test_a_lake_the_worker_cannot_write_and_hosts_down_are_in_the_health_line(tmp_path):
    from nrt.health import lake_lag, line, write_stream_status

    path = tmp_path / "status.json"
    now_ms = 1_000_000
    write_stream_status(path, 40, now_ms - 12_000, 5, error="NotADirectoryError: Not a directory")
    status = {**lake_lag(path, now_ms=now_ms), "models_down": {"nrt-failure": "exited (-9); restarting in 1 s"}}

    assert status["lake_lag_s"] >= 12.0
    shown = line(status)
    assert "stream worker cannot write the lake: NotADirectoryError" in shown
    assert "model hosts down: nrt-failure (exited (-9); restarting in 1 s)" in shown


def test_a_store_that_cannot_write_is_in_the_health_line():
    from nrt.health import line

    shown = line({"store_error": "OperationalError: database or disk is full", "store_waiting": 3})

    # Kept once it can: no restart (nrt/state/store.py's GroupCommit commits them again).
    assert "store cannot write: OperationalError: database or disk is full (3 changes wait, kept once it can)" in shown
    assert "store cannot" not in line({})
