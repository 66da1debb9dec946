"""Sensor simulator and load generator: sends readings to the inference API, at a constant
rate with retries, or as an open-loop load test (a spike or steps, in requests/s) that prints
a line a second.

python producer/producer.py --url http://127.0.0.1:3000 --rate 50 --count 500
python producer/producer.py --url http://127.0.0.1:3000 --profile spike --start-rate 5 --peak-rate 40
"""

from __future__ import annotations

import argparse
import csv
import http.client
import itertools
import json
import math
import os
import queue
import random
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

RETRYABLE = (429, 503)
# Counted under this status: a request that got no HTTP answer at all (connection refused, reset
# or timed out), retried as a 503 is; HTTP has no code for it (599 by convention).
NO_ANSWER = 599
DEFAULT_MODEL = "failure"
REPEAT_POOL = 50  # --repeat draws from the data of the last this many distinct readings


def make_reading(rng: random.Random, sensor: str, timestamp: int, model: str | None = None) -> dict[str, Any]:
    """A demo reading: three integers 0-99, now and then a failure shape (a peak in the middle)."""
    if rng.random() < 0.15:
        a = rng.randint(0, 40)
        data = [a, min(99, a + rng.randint(55, 70)), max(0, min(99, a + rng.randint(-15, 15)))]
    else:
        data = [rng.randint(0, 99) for _ in range(3)]
    reading: dict[str, Any] = {"sensor": sensor, "timestamp": timestamp, "data": data}
    if model is not None:
        reading["model"] = model
    return reading


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one). The producer is one
    file that runs anywhere with the standard library only, so it keeps its own copy of
    nrt/stats.py's; a test keeps the two equal."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass
class Stats:
    """What was sent and how it was answered; safe to update from many threads."""

    started: float = field(default_factory=time.monotonic)
    readings: int = 0
    requests: int = 0
    retries: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    answers: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    # One message a status other than 2xx answered with: what a user reads first.
    examples: dict[int, str] = field(default_factory=dict)
    # The event id (sensor:timestamp) of every reading sent, when the plan asks for them.
    sent_ids: set[str] = field(default_factory=set)
    # The features a 400 named unknown to the model (a CSV's label or date column, say).
    unknown_features: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self,
        status: int,
        seconds: float,
        readings: int,
        body: dict[str, Any] | None = None,
        example: str = "",
        unknown: str | None = None,
    ) -> None:
        with self._lock:
            if example and not 200 <= status < 300:
                self.examples.setdefault(status, example)
            if unknown is not None:
                self.unknown_features.add(unknown)
            self.requests += 1
            self.readings += readings
            self.by_status[status] += 1
            self.latencies.append(seconds)
            if body is not None:
                self.answers.append((body, seconds))

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def summary(self, now: float | None = None) -> dict[str, Any]:
        elapsed = max(1e-9, (now or time.monotonic()) - self.started)
        lat = sorted(self.latencies)
        return {
            "readings": self.readings,
            "requests": self.requests,
            "retries": self.retries,
            "by_status": dict(sorted(self.by_status.items())),
            "examples": dict(sorted(self.examples.items())),
            "unknown_features": sorted(self.unknown_features),
            "elapsed_s": round(elapsed, 2),
            "readings_per_s": round(self.readings / elapsed, 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p95_ms": round(percentile(lat, 95) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1),
        }


@dataclass
class Plan:
    """What to send."""

    url: str
    rate: float = 10.0
    count: int | None = 100
    duration: float | None = None
    sensors: int = 5
    batch: int = 0
    concurrency: int = 8
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    path: str = "/predictions"
    seed: int | None = None
    max_retries: int = 5
    keep_answers: bool = False
    keep_sent_ids: bool = False
    # Named features to send instead of the demo's three numbers: one dict per reading, cycled.
    rows: list[dict[str, Any]] = field(default_factory=list)
    # The share of readings that repeat the data (or features) of one of the last REPEAT_POOL
    # distinct ones sent: a workload for the prediction cache.
    repeat: float = 0.0


def backoff(attempt: int, asked: float | None = None) -> float:
    """Seconds before retry number attempt + 1: exponential with full jitter, and at least what
    the API asked for in Retry-After (capped, so a wrong header cannot stall the run)."""
    jittered: float = min(5.0, 0.05 * 2**attempt) * random.random()
    return max(jittered, min(asked, 30.0)) if asked is not None else jittered


def retry_after(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds (the HTTP-date form is not used by this API)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class _Client:
    """One kept-alive connection to the API."""

    def __init__(self, url: str, api_key: str | None, timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if api_key:
            self.headers["x-api-key"] = api_key
        self.conn: http.client.HTTPConnection | None = None
        self.timeout = timeout

    def post(self, path: str, body: bytes) -> tuple[int, bytes, float | None]:
        """(status, body, the seconds a Retry-After header asks for, if any)."""
        for attempt in (1, 2):
            if self.conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.conn = cls(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", self.base + path, body=body, headers=self.headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read(), retry_after(resp.getheader("Retry-After"))
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Bodies:
    """The request bodies of a plan, by request index: request i carries readings i * batch ...,
    each on sensor-(n % sensors + 1) with a timestamp of its own (the table's key is sensor +
    timestamp); safe to call from many threads."""

    def __init__(self, plan: Plan, stats: Stats) -> None:
        self.plan = plan
        self.stats = stats
        self.rng = random.Random(plan.seed)
        self.base_ts = int(time.time() * 1000)
        self.per_request = max(1, plan.batch)
        self._lock = threading.Lock()
        self._recent: list[Any] = []  # the last REPEAT_POOL distinct readings' data or features

    def body(self, index: int) -> tuple[bytes, int]:
        """(the JSON body of request `index`, the readings it carries)."""
        plan, first = self.plan, index * self.per_request
        size = self.per_request if plan.count is None else min(self.per_request, plan.count - first)
        readings = [self._reading(n) for n in range(first, first + size)]
        body = {"model": plan.model, "readings": readings} if plan.batch else readings[0]
        return json.dumps(body).encode(), size

    def _reading(self, n: int) -> dict[str, Any]:
        plan = self.plan
        sensor = f"sensor-{n % plan.sensors + 1}"
        with self._lock:
            reading = make_reading(self.rng, sensor, self.base_ts + n, None if plan.batch else plan.model)
            if plan.keep_sent_ids:
                self.stats.sent_ids.add(f"{sensor}:{reading['timestamp']}")
        if plan.rows:
            del reading["data"]
            reading["features"] = plan.rows[n % len(plan.rows)]
        if plan.repeat:
            self._repeat(reading, "features" if plan.rows else "data")
        return reading

    def _repeat(self, reading: dict[str, Any], key: str) -> None:
        """With probability plan.repeat, the reading carries a recent reading's data instead of its own."""
        with self._lock:
            if self._recent and self.rng.random() < self.plan.repeat:
                reading[key] = self.rng.choice(self._recent)
            elif reading[key] not in self._recent:
                self._recent = [*self._recent[1 - REPEAT_POOL :], reading[key]]


def run(plan: Plan, progress: Callable[[Stats], None] | None = None) -> Stats:
    """Send readings per the plan; retries 429/503 with exponential backoff and jitter, waiting
    at least what a Retry-After header asks."""
    if plan.count is None and plan.duration is None:
        raise ValueError("give a count or a duration")
    stats = Stats()
    lock = threading.Lock()
    next_index = 0
    per_request = max(1, plan.batch)
    deadline = stats.started + plan.duration if plan.duration else None

    def take() -> int | None:
        nonlocal next_index
        with lock:
            index = next_index
            if plan.count is not None and index * per_request >= plan.count:
                return None
            next_index += 1
            return index

    bodies = Bodies(plan, stats)

    def worker() -> None:
        client = _Client(plan.url, plan.api_key)
        while True:
            index = take()
            if index is None:
                return
            if plan.rate > 0:
                due = stats.started + index / (plan.rate / per_request)
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            if deadline is not None and time.monotonic() >= deadline:
                return
            body, size = bodies.body(index)
            for attempt in range(plan.max_retries + 1):
                t0 = time.perf_counter()
                asked: float | None = None
                try:
                    status, raw, asked = client.post(plan.path, body)
                except OSError as error:
                    status, raw = NO_ANSWER, json.dumps({"message": f"{type(error).__name__}: {error}"}).encode()
                seconds = time.perf_counter() - t0
                if status in (*RETRYABLE, NO_ANSWER) and attempt < plan.max_retries:
                    stats.retried()
                    time.sleep(backoff(attempt, asked))
                    continue
                answer = _json(raw) if plan.keep_answers else None
                stats.record(
                    status, seconds, size, answer, example=message_of(raw), unknown=unknown_feature(status, raw)
                )
                break

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, plan.concurrency))]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=0.5)
        if progress is not None:
            progress(stats)
    return stats


def message_of(raw: bytes, limit: int = 160) -> str:
    """An answer's `message` (the API's JSON errors carry one), else its text, cut to `limit`."""
    answer = _json(raw)
    text = str(answer.get("message") or answer.get("raw") or raw.decode("utf-8", "replace"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_feature(status: int, raw: bytes) -> str | None:
    """The feature a 400 answer names as one the model does not take (its structured `feature`)."""
    if status != 400:
        return None
    answer = _json(raw)
    named = answer.get("feature")
    return str(named) if named and "unknown feature" in str(answer.get("message", "")) else None


def drop_hint(unknown: list[str], rows: list[dict[str, Any]], drop: str) -> str | None:
    """A line when the model refused features that are columns of the --csv (its label, a date):
    the --drop that leaves them out."""
    columns = [c for c in unknown if rows and c in rows[0]]
    if not columns:
        return None
    dropped = ",".join([*(c.strip() for c in drop.split(",") if c.strip()), *columns])
    return (
        f"hint: the model takes no {', '.join(map(repr, columns))}, a column of the CSV (its label, a date?): "
        f"send the rows without it with --drop {dropped}"
    )


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"raw": raw.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"value": value}


def progress_line(out: TextIO) -> Callable[[Stats], None]:
    def show(stats: Stats) -> None:
        s = stats.summary()
        codes = " ".join(f"{k}:{v}" for k, v in s["by_status"].items())
        out.write(
            f"\r  sent {s['readings']:>7} readings  {s['readings_per_s']:>8.1f}/s  "
            f"p50 {s['p50_ms']:>6.1f} ms  p99 {s['p99_ms']:>6.1f} ms  [{codes}]   "
        )
        out.flush()

    return show


def format_summary(summary: dict[str, Any]) -> str:
    codes = ", ".join(f"{k}: {v}" for k, v in summary["by_status"].items())
    examples = "".join(
        f"\n    {status}{' (no HTTP answer)' if int(status) == NO_ANSWER else ''}, e.g.: {message}"
        for status, message in summary.get("examples", {}).items()
    )
    return (
        f"sent {summary['readings']} readings in {summary['requests']} requests "
        f"({summary['retries']} retries) in {summary['elapsed_s']} s\n"
        f"  by status: {codes}{examples}\n"
        f"  achieved: {summary['readings_per_s']} readings/s\n"
        f"  latency: p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms"
    )


# --- Load profiles: an open-loop schedule of requests per second -----------------------------

PROFILES = ("constant", "spike", "step")
MAX_IN_FLIGHT = 100
TIMEOUT = 30.0
# A second's status columns: what a load test reads first under overload.
COLUMNS = ("ok", "429", "4xx", "5xx", "conn")


@dataclass(frozen=True)
class Profile:
    """A load shape in requests per second over time. spike: start_rate, a linear ramp to
    peak_rate over `ramp` seconds, `hold` seconds at the peak, a linear fall back to start_rate
    over `fall` seconds. step: start_rate for `step_every` seconds, then step_rate more each
    `step_every` seconds, `steps` levels in all."""

    kind: str
    start_rate: float = 100.0
    peak_rate: float = 1000.0
    ramp: float = 30.0
    hold: float = 60.0
    fall: float = 30.0
    step_rate: float = 100.0
    step_every: float = 30.0
    steps: int = 10

    def duration(self) -> float:
        if self.kind == "step":
            return self.steps * self.step_every
        return self.ramp + self.hold + self.fall

    def rate_at(self, t: float) -> float:
        """Target requests/s at t seconds from the start (0 outside the profile)."""
        return self._shape(t) if 0 <= t < self.duration() else 0.0

    def sent_by(self, t: float) -> float:
        """Requests due from 0 to t seconds: the integral of rate_at, exact (on each piece
        between the shape's corners the rate is constant or linear)."""
        t = max(0.0, min(t, self.duration()))
        points = [0.0, *[e for e in self._corners() if 0.0 < e < t], t]
        return sum(self._area(a, b) for a, b in itertools.pairwise(points))

    def _area(self, a: float, b: float) -> float:
        if self.kind == "step":
            return (b - a) * self._shape(a)
        return (b - a) * (self._shape(a) + self._shape(b)) / 2

    def _corners(self) -> list[float]:
        if self.kind == "step":
            return [i * self.step_every for i in range(1, self.steps)]
        return [self.ramp, self.ramp + self.hold]

    def _shape(self, t: float) -> float:
        if self.kind == "step":
            return self.start_rate + min(self.steps - 1, int(t // self.step_every)) * self.step_rate
        rise = self.peak_rate - self.start_rate
        if t < self.ramp:
            return self.start_rate + rise * t / self.ramp
        if t <= self.ramp + self.hold:
            return self.peak_rate
        return self.peak_rate - rise * (t - self.ramp - self.hold) / self.fall


def per_second_targets(profile: Profile) -> list[int]:
    """Requests to send in each whole second of the profile (the last second may be partial):
    the whole requests the integral of the rate reaches by its end, less those by its start."""
    seconds = math.ceil(profile.duration() - 1e-9)
    reached = [math.floor(profile.sent_by(s) + 1e-6) for s in range(seconds + 1)]
    return [b - a for a, b in itertools.pairwise(reached)]


def send_times(targets: list[int], limit: int | None = None, until: float | None = None) -> list[float]:
    """When each request is due, in seconds from the start: a second's requests evenly spread
    within it; at most `limit` requests and none at or after `until` seconds."""
    due = [second + k / n for second, n in enumerate(targets) for k in range(n)]
    if until is not None:
        due = [t for t in due if t < until]
    return due[:limit] if limit is not None else due


def status_column(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "429"
    if status == NO_ANSWER:
        return "conn"
    return "5xx" if status >= 500 else "4xx"


@dataclass
class Second:
    """One second of a load run: what was due, sent, dropped, and answered in it."""

    target: int = 0
    sent: int = 0
    dropped: int = 0
    in_flight: int = 0
    answered: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def row(self, second: int, batch: int) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "second": second,
            "target_rps": self.target,
            "sent": self.sent,
            "achieved_rps": self.answered["ok"],
            "readings_per_s": self.answered["ok"] * max(1, batch),
            "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p95_ms": round(percentile(lat, 95) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1),
            **{column: self.answered[column] for column in COLUMNS[1:]},
            "dropped": self.dropped,
            "in_flight": self.in_flight,
        }


LINE_HEAD = (
    f"{'sec':>4} {'target/s':>8} {'sent':>6} {'ok/s':>6} {'readings/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'429':>5} {'4xx':>5} {'5xx':>5} {'conn':>5} {'dropped':>7} {'in-flight':>9}"
)


def second_line(row: dict[str, Any]) -> str:
    return (
        f"{row['second']:>4} {row['target_rps']:>8} {row['sent']:>6} {row['achieved_rps']:>6} "
        f"{row['readings_per_s']:>10} "
        f"{row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['429']:>5} {row['4xx']:>5} "
        f"{row['5xx']:>5} {row['conn']:>5} {row['dropped']:>7} {row['in_flight']:>9}"
    )


@dataclass
class LoadRun:
    """An open-loop run: requests leave when they are due whether or not earlier ones were
    answered, and a request's latency runs from when it was due (so a slow API cannot slow the
    schedule down and hide its own latency: no coordinated omission). At most max_in_flight
    requests are out at once; one due while that many are out is not sent, counted dropped."""

    plan: Plan
    profile: Profile
    max_in_flight: int = 100
    timeout: float = 30.0
    seconds: dict[int, Second] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    # One message per status other than 2xx: what a user reads first.
    examples: dict[int, str] = field(default_factory=dict)
    stopped: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def second(self, at: float) -> Second:
        return self.seconds.setdefault(max(0, int(at - self.started)), Second())

    def due(self) -> list[float]:
        """When each request is due, in seconds from the start: the profile, capped by the plan."""
        per_request = max(1, self.plan.batch)
        limit = None if self.plan.count is None else math.ceil(self.plan.count / per_request)
        return send_times(per_second_targets(self.profile), limit, self.plan.duration)

    def schedule(self) -> list[float]:
        """Start now: the schedule, each second's target counted."""
        self.started = time.monotonic()
        due = self.due()
        for t in due:
            self.second(self.started + t).target += 1
        return due

    def answered(self, due: float, status: int, example: str = "") -> None:
        now = time.monotonic()
        with self._lock:
            if example:
                self.examples.setdefault(status, example)
            self.in_flight -= 1
            second = self.second(now)
            second.answered[status_column(status)] += 1
            second.latencies.append(now - due)
            self.latencies.append(now - due)

    def admit(self, due: float) -> bool:
        """Whether the request due now may go: false (and counted dropped) at the in-flight cap."""
        with self._lock:
            second = self.second(due)
            if self.in_flight >= self.max_in_flight:
                second.dropped += 1
                return False
            self.in_flight += 1
            second.sent += 1
            return True

    def last_second(self) -> int:
        """The latest second anything was due or answered in (-1 before any)."""
        with self._lock:
            return max(self.seconds, default=-1)

    def row(self, second: int) -> dict[str, Any]:
        with self._lock:
            return self.seconds.get(second, Second()).row(second, self.plan.batch)


def _sender(run: LoadRun, bodies: Bodies, jobs: queue.Queue[tuple[int, float] | None]) -> None:
    client = _Client(run.plan.url, run.plan.api_key, timeout=run.timeout)
    while (job := jobs.get()) is not None:
        index, due = job
        body, _ = bodies.body(index)
        try:
            status, raw, _ = client.post(run.plan.path, body)
        except OSError as error:
            status, raw = NO_ANSWER, json.dumps({"message": f"{type(error).__name__}: {error}"}).encode()
        run.answered(due, status, "" if 200 <= status < 300 else message_of(raw))


def _dispatch(run: LoadRun, due: list[float], jobs: queue.Queue[tuple[int, float] | None]) -> None:
    """Put each request on the queue when it is due (never later for an unanswered one)."""
    for index, offset in enumerate(due):
        at = run.started + offset
        if run.stopped.wait(max(0.0, at - time.monotonic())):
            return
        if run.admit(at):
            jobs.put((index, at))


def run_profile(run: LoadRun, line: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Run the profile; `line` gets each second's row as that second ends. Returns every row."""
    bodies = Bodies(run.plan, Stats())
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()
    senders = [
        threading.Thread(target=_sender, args=(run, bodies, jobs), daemon=True) for _ in range(run.max_in_flight)
    ]
    for sender in senders:
        sender.start()
    due = run.schedule()
    dispatcher = threading.Thread(target=_dispatch, args=(run, due, jobs), daemon=True)
    dispatcher.start()
    rows: list[dict[str, Any]] = []
    planned = int(due[-1]) + 1 if due else 0
    # A line a second until the schedule is done and every request sent is answered (or timed out).
    try:
        while len(rows) < planned or dispatcher.is_alive() or run.in_flight > 0 or run.last_second() >= len(rows):
            _sleep_until(run.started + len(rows) + 1)
            with run._lock:
                run.seconds.setdefault(len(rows), Second()).in_flight = run.in_flight
            _sleep_until(run.started + len(rows) + 1.05)  # an answer timed just before the second's end is counted
            rows.append(run.row(len(rows)))
            line(rows[-1])
    except KeyboardInterrupt:  # Ctrl-C: nothing more is sent; the summary covers the seconds so far
        run.stopped.set()
    for _ in senders:
        jobs.put(None)
    return rows


def _sleep_until(at: float) -> None:
    pause = at - time.monotonic()
    if pause > 0:
        time.sleep(pause)


def load_summary(run: LoadRun, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals, overall percentiles and the worst second (the highest p99) of a load run."""
    lat = sorted(run.latencies)
    totals = {key: sum(row[key] for row in rows) for key in ("target_rps", "sent", "achieved_rps", *COLUMNS[1:])}
    elapsed = max(1.0, len(rows))
    worst = max(rows, key=lambda row: (row["p99_ms"], -row["second"])) if rows else Second().row(0, 0)
    return {
        "profile": run.profile.kind,
        "requests_due": totals["target_rps"],
        "requests_sent": totals["sent"],
        "requests_ok": totals["achieved_rps"],
        "readings_ok": totals["achieved_rps"] * max(1, run.plan.batch),
        "by_status": {column: totals[column] for column in COLUMNS[1:]},
        "examples": dict(sorted(run.examples.items())),
        "dropped": sum(row["dropped"] for row in rows),
        "seconds": len(rows),
        "ok_per_s": round(totals["achieved_rps"] / elapsed, 1),
        "readings_per_s": round(totals["achieved_rps"] * max(1, run.plan.batch) / elapsed, 1),
        "p50_ms": round(percentile(lat, 50) * 1000, 1),
        "p95_ms": round(percentile(lat, 95) * 1000, 1),
        "p99_ms": round(percentile(lat, 99) * 1000, 1),
        "worst_second": worst,
    }


def format_load_summary(summary: dict[str, Any]) -> str:
    errors = ", ".join(f"{k}: {v}" for k, v in summary["by_status"].items())
    errors += "".join(f"\n    {status}, e.g.: {message}" for status, message in summary["examples"].items())
    return (
        f"{summary['profile']}: {summary['requests_sent']} of {summary['requests_due']} requests due sent "
        f"({summary['dropped']} dropped at the in-flight cap) in {summary['seconds']} s\n"
        f"  answered 2xx: {summary['requests_ok']} requests, {summary['readings_ok']} readings "
        f"({summary['ok_per_s']} requests/s, {summary['readings_per_s']} readings/s)\n"
        f"  errors: {errors}\n"
        f"  latency from due: p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms\n"
        f"  worst second (highest p99):\n{LINE_HEAD}\n{second_line(summary['worst_second'])}"
    )


def write_series(path: str, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["second"])
        writer.writeheader()
        writer.writerows(rows)


def build_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Send sensor readings to the nrt-inference API.", epilog=epilog)
    p.add_argument("--url", default="http://127.0.0.1:3000", help="API base URL (default: the local API)")
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="constant",
        help="constant: --rate readings/s, retrying 429/503 (default); spike, step: an open-loop load "
        "test in requests/s with a line a second (see below)",
    )
    p.add_argument("--rate", type=float, help="constant: readings per second; 0 for as fast as possible (default 10)")
    p.add_argument("--count", type=int, help="readings to send (default 100 unless --duration)")
    p.add_argument("--duration", type=float, help="seconds to send for")
    p.add_argument("--sensors", type=int, default=5, help="number of simulated sensors")
    p.add_argument("--batch", type=int, default=0, help="readings per request (1-100); 0 sends single readings")
    p.add_argument("--concurrency", type=int, help="constant: parallel connections (default 8)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name (the endpoint is <prefix><model>)")
    p.add_argument(
        "--api-key",
        default=os.environ.get("NRT_API_KEY"),
        help="sent as x-api-key (the deployed API and `nrt up --auth` require one); default: $NRT_API_KEY",
    )
    p.add_argument(
        "--async",
        dest="use_async",
        action="store_true",
        help="POST /events (202) instead of /predictions",
    )
    p.add_argument("--seed", type=int, help="random seed for reproducible readings")
    p.add_argument(
        "--repeat",
        type=float,
        default=0.0,
        metavar="SHARE",
        help=f"the share (0-1) of readings that repeat the data of one of the last {REPEAT_POOL} distinct ones "
        "sent, as a workload for the prediction cache (default 0)",
    )
    p.add_argument("--csv", help="send named features from this CSV's rows (cycled) instead of three numbers")
    p.add_argument("--drop", default="", help="with --csv: comma-separated columns not to send (the label)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (spike, step: and every second)")
    load_flags(p)
    return p


def load_flags(p: argparse.ArgumentParser) -> None:
    d = Profile("spike")
    load = p.add_argument_group(
        "spike and step profiles",
        "Requests/s (with --batch N each request carries N readings). Open loop: a request leaves when "
        "it is due, answered or not, its latency counted from then; no retries (a 429 is a result). "
        "A line a second: target, sent, 2xx answered, p50/p95/p99, 429/4xx/5xx/no answer, dropped, in "
        "flight; then the totals and the worst second. --count caps the readings, --duration the seconds. "
        "Exit 0 only if every request due was answered 2xx.",
    )
    load.add_argument(
        "--start-rate", type=float, help=f"requests/s at the start (and a spike's end); default {d.start_rate:g}"
    )
    load.add_argument("--peak-rate", type=float, help=f"spike: requests/s at the top; default {d.peak_rate:g}")
    load.add_argument("--ramp", type=float, help=f"spike: seconds from start to peak, linear; default {d.ramp:g}")
    load.add_argument("--hold", type=float, help=f"spike: seconds at the peak; default {d.hold:g}")
    load.add_argument("--fall", type=float, help=f"spike: seconds from peak back to start, linear; default {d.fall:g}")
    load.add_argument("--step-rate", type=float, help=f"step: requests/s added at each step; default {d.step_rate:g}")
    load.add_argument("--step-every", type=float, help=f"step: seconds at each level; default {d.step_every:g}")
    load.add_argument("--steps", type=int, help=f"step: levels, the first at --start-rate; default {d.steps}")
    load.add_argument(
        "--max-in-flight",
        type=int,
        help="the most requests out at once (threads, connections); one due beyond it is dropped; "
        f"default {MAX_IN_FLIGHT}",
    )
    load.add_argument(
        "--timeout", type=float, help=f"seconds without an answer before a request counts as conn; default {TIMEOUT:g}"
    )
    load.add_argument("--series", metavar="FILE", help="write the per-second rows to this CSV file")


# The flags each profile takes (by dest); any other profile refuses them.
FLAG_PROFILES: dict[str, tuple[str, ...]] = {
    "rate": ("constant",),
    "concurrency": ("constant",),
    "start_rate": ("spike", "step"),
    "peak_rate": ("spike",),
    "ramp": ("spike",),
    "hold": ("spike",),
    "fall": ("spike",),
    "step_rate": ("step",),
    "step_every": ("step",),
    "steps": ("step",),
    "max_in_flight": ("spike", "step"),
    "timeout": ("spike", "step"),
    "series": ("spike", "step"),
}


def refuse_misplaced(args: argparse.Namespace) -> None:
    """A flag given to a profile that does not take it is an error, not silently ignored."""
    for dest, profiles in FLAG_PROFILES.items():
        if getattr(args, dest) is not None and args.profile not in profiles:
            flag = "--" + dest.replace("_", "-")
            hint = " (spike and step take requests/s: --start-rate, --peak-rate, --step-rate)" if dest == "rate" else ""
            raise SystemExit(f"{flag} is for --profile {' or '.join(profiles)}, not {args.profile}{hint}")


def profile_from_args(args: argparse.Namespace) -> Profile | None:
    """The spike or step profile the flags describe (None for constant), its defaults filled in; a
    shape that cannot run is refused with the reason."""
    refuse_misplaced(args)
    if args.profile == "constant":
        return None
    given = {
        k: getattr(args, k)
        for k in ("start_rate", "peak_rate", "ramp", "hold", "fall", "step_rate", "step_every", "steps")
    }
    profile = Profile(args.profile, **{k: v for k, v in given.items() if v is not None})
    problem = shape_problem(profile)
    if problem:
        raise SystemExit(f"--profile {profile.kind}: {problem}")
    if args.max_in_flight is not None and args.max_in_flight < 1:
        raise SystemExit("--max-in-flight must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise SystemExit("--timeout must be more than 0 seconds")
    return profile


def shape_problem(profile: Profile) -> str:
    """Why a profile cannot run ("" if it can)."""
    if profile.start_rate < 0:
        return "--start-rate must be 0 or more"
    problem = spike_problem(profile) if profile.kind == "spike" else step_problem(profile)
    if not problem and sum(per_second_targets(profile)) < 1:
        problem = "it sends no request at all: raise the rates or the seconds"
    return problem


def spike_problem(profile: Profile) -> str:
    if profile.peak_rate < profile.start_rate:
        return f"--peak-rate ({profile.peak_rate:g}) must be at least --start-rate ({profile.start_rate:g})"
    if min(profile.ramp, profile.hold, profile.fall) < 0:
        return "--ramp, --hold and --fall must be 0 or more seconds"
    return "" if profile.duration() > 0 else "--ramp + --hold + --fall must be more than 0 seconds"


def step_problem(profile: Profile) -> str:
    if profile.step_every <= 0:
        return "--step-every must be more than 0 seconds"
    if profile.steps < 1:
        return "--steps must be at least 1"
    last = profile.start_rate + (profile.steps - 1) * profile.step_rate
    return "" if last >= 0 else f"the last step would be {last:g} requests/s: it must be 0 or more"


def csv_value(text: str) -> Any:
    """A CSV cell as a reading's value: empty is missing (null), a number is a number, else text."""
    text = text.strip()
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def feature_rows(path: str, drop: list[str]) -> list[dict[str, Any]]:
    """Rows of a CSV (header first) as named features, without the dropped columns (the label)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in drop if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"--drop: {path} has no column {missing[0]!r}")
        rows = [{k: csv_value(v or "") for k, v in row.items() if k not in drop} for row in reader]
    if not rows:
        raise SystemExit(f"--csv: {path} has no data rows")
    return rows


def refuse_bad_sizes(args: argparse.Namespace) -> None:
    if args.batch < 0 or args.batch > 100:
        raise SystemExit("--batch must be between 0 and 100")
    if args.sensors < 1:
        raise SystemExit("--sensors must be at least 1")
    if not 0 <= args.repeat < 1:
        raise SystemExit("--repeat must be at least 0 and below 1")
    if args.count is not None and args.count < 1:
        raise SystemExit("--count must be at least 1")
    if args.duration is not None and args.duration <= 0:
        raise SystemExit("--duration must be more than 0 seconds")


def plan_from_args(args: argparse.Namespace) -> Plan:
    refuse_bad_sizes(args)
    default_count = None if args.duration or args.profile != "constant" else 100
    return Plan(
        url=args.url,
        rate=10.0 if args.rate is None else args.rate,
        count=args.count if args.count is not None else default_count,
        duration=args.duration,
        sensors=args.sensors,
        batch=args.batch,
        concurrency=8 if args.concurrency is None else args.concurrency,
        model=args.model,
        api_key=args.api_key,
        path="/events" if args.use_async else "/predictions",
        seed=args.seed,
        rows=feature_rows(args.csv, [c.strip() for c in args.drop.split(",") if c.strip()]) if args.csv else [],
        repeat=args.repeat,
    )


def main(argv: list[str] | None = None, epilog: str | None = None) -> int:
    args = build_parser(epilog).parse_args(argv)
    profile = profile_from_args(args)
    plan = plan_from_args(args)
    if profile is not None:
        return main_load(args, plan, profile)
    stats = run(plan, None if args.json else progress_line(sys.stderr))
    summary = stats.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        sys.stderr.write("\n")
        print(format_summary(summary))
    hint = drop_hint(summary["unknown_features"], plan.rows, args.drop)
    if hint:
        print(hint, file=sys.stderr if args.json else sys.stdout)
    ok = {200, 202}
    return 0 if summary["readings"] and set(summary["by_status"]) <= ok else 1


def main_load(args: argparse.Namespace, plan: Plan, profile: Profile) -> int:
    """Run a spike or step profile: a line a second as it goes, then the summary (or JSON)."""
    run = LoadRun(plan, profile, args.max_in_flight or MAX_IN_FLIGHT, args.timeout or TIMEOUT)
    out = sys.stderr if args.json else sys.stdout
    due = len(run.due())
    per_request = f"{plan.batch} readings each" if plan.batch else "1 reading each"
    print(
        f"{profile.kind}: {due} requests due ({per_request}) over {profile.duration():g} s, at most "
        f"{run.max_in_flight} in flight, to {plan.url}{plan.path}",
        file=out,
    )
    print(LINE_HEAD, file=out, flush=True)
    rows = run_profile(run, lambda row: print(second_line(row), file=out, flush=True))
    summary = load_summary(run, rows)
    if args.series:
        write_series(args.series, rows)
    if args.json:
        print(json.dumps({"summary": summary, "seconds": rows}))
    else:
        print(format_load_summary(summary))
    return 0 if summary["requests_ok"] == summary["requests_due"] else 1


if __name__ == "__main__":
    sys.exit(main())
