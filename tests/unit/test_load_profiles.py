"""producer/producer.py's load profiles: the schedule's arithmetic, the flags it refuses, and the
open-loop run against a small HTTP server on 127.0.0.1 that answers slowly or with 429."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from producer import producer
from producer.producer import Profile, per_second_targets, send_times


def args(*flags: str) -> producer.argparse.Namespace:
    return producer.build_parser().parse_args(list(flags))


# --- the schedule ----------------------------------------------------------------------------


def test_given_a_spike_when_scheduled_then_each_second_gets_the_integral_of_its_rate():
    spike = Profile("spike", start_rate=5, peak_rate=40, ramp=3, hold=2, fall=2)

    # 5 -> 40/s over 3 s, 40/s for 2 s, back to 5/s over 2 s: 67.5 + 80 + 45 = 192.5 requests.
    assert spike.sent_by(spike.duration()) == 192.5
    assert per_second_targets(spike) == [10, 23, 34, 40, 40, 31, 14]
    assert sum(per_second_targets(spike)) == 192


def test_given_a_spike_then_its_rate_ramps_holds_and_falls_and_is_zero_outside():
    spike = Profile("spike", start_rate=100, peak_rate=1000, ramp=10, hold=5, fall=10)

    assert [spike.rate_at(t) for t in (0, 5, 10, 12, 15, 20, 24.999)] == pytest.approx(
        [100, 550, 1000, 1000, 1000, 550, 100.09]
    )
    assert spike.rate_at(-0.1) == spike.rate_at(25) == 0


def test_given_black_friday_100_to_10000_then_the_total_is_the_area_under_the_shape():
    spike = Profile("spike", start_rate=100, peak_rate=10_000, ramp=60, hold=60, fall=60)

    targets = per_second_targets(spike)

    assert len(targets) == 180
    assert sum(targets) == 303_000 + 600_000 + 303_000
    assert targets[60:120] == [10_000] * 60
    assert targets[:60] == sorted(targets[:60])  # rising
    assert targets[120:] == sorted(targets[120:], reverse=True)  # falling


def test_given_steps_then_each_level_holds_for_its_seconds_and_the_last_ends_the_profile():
    step = Profile("step", start_rate=10, step_rate=5, step_every=2, steps=3)

    assert step.duration() == 6
    assert per_second_targets(step) == [10, 10, 15, 15, 20, 20]
    assert step.rate_at(5.9) == 20 and step.rate_at(6) == 0


def test_given_a_part_second_at_the_end_then_it_gets_its_share():
    assert per_second_targets(Profile("step", start_rate=10, step_rate=0, step_every=1.5, steps=1)) == [10, 5]


def test_a_seconds_requests_are_spread_evenly_within_it_and_capped_by_count_and_time():
    assert send_times([2, 4]) == [0.0, 0.5, 1.0, 1.25, 1.5, 1.75]
    assert send_times([2, 4], limit=3) == [0.0, 0.5, 1.0]
    assert send_times([2, 4], until=1.5) == [0.0, 0.5, 1.0, 1.25]


@pytest.mark.parametrize(
    ("status", "column"), [(200, "ok"), (202, "ok"), (429, "429"), (400, "4xx"), (503, "5xx"), (599, "conn")]
)
def test_each_answer_is_counted_in_its_status_column(status, column):
    assert producer.status_column(status) == column


# --- the flags -------------------------------------------------------------------------------


def test_given_spike_alone_then_the_stated_defaults_are_used():
    assert producer.profile_from_args(args("--profile", "spike")) == Profile(
        "spike", start_rate=100, peak_rate=1000, ramp=30, hold=60, fall=30
    )
    assert producer.profile_from_args(args()) is None  # constant: today's producer


def test_given_a_profile_then_the_plan_has_no_default_count_only_the_given_caps():
    plan = producer.plan_from_args(args("--profile", "step", "--count", "50", "--duration", "4"))
    assert (plan.count, plan.duration) == (50, 4.0)
    assert producer.plan_from_args(args("--profile", "step")).count is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--peak-rate", "50"], "--peak-rate is for --profile spike, not constant"),
        (["--profile", "spike", "--rate", "50"], "--rate is for --profile constant, not spike"),
        (["--profile", "spike", "--steps", "3"], "--steps is for --profile step, not spike"),
        (["--profile", "step", "--hold", "3"], "--hold is for --profile spike, not step"),
        (["--profile", "spike", "--concurrency", "3"], "--concurrency is for --profile constant"),
        (["--series", "x.csv"], "--series is for --profile spike or step, not constant"),
        (["--profile", "spike", "--start-rate", "50", "--peak-rate", "10"], "--peak-rate (10) must be at least"),
        (["--profile", "spike", "--ramp", "-1"], "--ramp, --hold and --fall must be 0 or more"),
        (["--profile", "spike", "--ramp", "0", "--hold", "0", "--fall", "0"], "must be more than 0 seconds"),
        (["--profile", "step", "--start-rate", "-1"], "--start-rate must be 0 or more"),
        (["--profile", "step", "--step-every", "0"], "--step-every must be more than 0"),
        (["--profile", "step", "--steps", "0"], "--steps must be at least 1"),
        (["--profile", "step", "--start-rate", "10", "--step-rate", "-10", "--steps", "3"], "last step would be -10"),
        (["--profile", "step", "--start-rate", "0.1", "--step-rate", "0", "--step-every", "1", "--steps", "1"],
         "sends no request at all"),
        (["--profile", "spike", "--max-in-flight", "0"], "--max-in-flight must be at least 1"),
        (["--profile", "spike", "--timeout", "0"], "--timeout must be more than 0"),
    ],
)  # fmt: skip
def test_a_flag_the_profile_does_not_take_or_a_shape_that_cannot_run_is_refused_with_the_reason(flags, message):
    with pytest.raises(SystemExit) as refused:
        producer.main([*flags, "--url", "http://127.0.0.1:9"])
    assert message in str(refused.value)


@pytest.mark.parametrize(("flags", "message"), [(["--count", "0"], "--count"), (["--duration", "0"], "--duration")])
def test_caps_that_would_send_nothing_are_refused(flags, message):
    with pytest.raises(SystemExit, match=message):
        producer.plan_from_args(args("--profile", "spike", *flags))


# --- the run, against a server on 127.0.0.1 ----------------------------------------------------


@contextmanager
def server(status: int, delay: float) -> Iterator[tuple[str, list[float]]]:
    """An API stand-in: answers every POST with `status` after `delay` seconds; yields its URL
    and the times requests arrived."""
    arrived: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            arrived.append(time.monotonic())
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(delay)
            body = b'{"ok": true}' if status < 300 else b'{"message": "Too Many Requests"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", arrived
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_given_a_slow_api_then_requests_still_leave_on_schedule_and_those_over_the_cap_are_dropped():
    # 20 requests due in 1 s (every 50 ms), each answered after 300 ms, at most 3 in flight.
    profile = Profile("step", start_rate=20, step_rate=0, step_every=1, steps=1)
    with server(200, 0.3) as (url, arrived):
        run = producer.LoadRun(producer.Plan(url=url, count=None), profile, max_in_flight=3)
        rows = producer.run_profile(run, lambda row: None)

    summary = producer.load_summary(run, rows)
    assert summary["requests_due"] == 20
    assert summary["requests_sent"] == len(arrived) == summary["requests_ok"]
    assert summary["dropped"] == 20 - summary["requests_sent"] > 0
    assert summary["p50_ms"] >= 300  # counted from when each was due, the wait included
    assert rows[0]["target_rps"] == 20 and rows[0]["dropped"] > 0


def test_given_429s_then_they_are_counted_not_retried_and_the_run_fails(tmp_path: Path, capsys):
    series = tmp_path / "series.csv"
    with server(429, 0.0) as (url, arrived):
        code = producer.main(
            ["--url", url, "--profile", "step", "--start-rate", "8", "--step-rate", "4", "--step-every", "1",
             "--steps", "2", "--series", str(series), "--json"]
        )  # fmt: skip

    out = capsys.readouterr()
    result = json.loads(out.out)
    assert code == 1
    assert len(arrived) == 20  # 8 + 12 requests, not one more: no retries
    assert result["summary"]["by_status"]["429"] == 20
    assert result["summary"]["examples"] == {"429": "Too Many Requests"}  # the API's message, once
    assert [row["target_rps"] for row in result["seconds"][:2]] == [8, 12]
    assert " sec target/s" in out.err  # the lines go to stderr with --json
    with series.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["429"]) for row in rows] == [row["429"] for row in result["seconds"]]


def test_given_an_api_that_answers_every_request_then_the_lines_and_summary_are_printed_and_it_succeeds(capsys):
    with server(200, 0.0) as (url, _):
        code = producer.main(["--url", url, "--profile", "spike", "--start-rate", "4", "--peak-rate", "12",
                              "--ramp", "1", "--hold", "1", "--fall", "0", "--batch", "5"])  # fmt: skip

    out = capsys.readouterr().out
    assert code == 0
    assert "spike: 20 requests due (5 readings each) over 2 s" in out
    assert "answered 2xx: 20 requests, 100 readings" in out
    assert "latency from due: p50 " in out and "worst second (highest p99):" in out
