"""Sensor simulator and load generator: sends readings to the inference API.

python producer/producer.py --url http://127.0.0.1:3000 --rate 50 --count 500
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import math
import os
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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self, status: int, seconds: float, readings: int, body: dict[str, Any] | None = None, example: str = ""
    ) -> None:
        with self._lock:
            if example and not 200 <= status < 300:
                self.examples.setdefault(status, example)
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

    def __init__(self, url: str, api_key: str | None) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if api_key:
            self.headers["x-api-key"] = api_key
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, bytes, float | None]:
        """(status, body, the seconds a Retry-After header asks for, if any)."""
        for attempt in (1, 2):
            if self.conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.conn = cls(self.host, self.port, timeout=60)
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


def run(plan: Plan, progress: Callable[[Stats], None] | None = None) -> Stats:
    """Send readings per the plan; retries 429/503 with exponential backoff and jitter, waiting
    at least what a Retry-After header asks."""
    if plan.count is None and plan.duration is None:
        raise ValueError("give a count or a duration")
    rng = random.Random(plan.seed)
    stats = Stats()
    lock = threading.Lock()
    next_index = 0
    per_request = max(1, plan.batch)
    base_ts = int(time.time() * 1000)
    deadline = stats.started + plan.duration if plan.duration else None

    def take() -> int | None:
        nonlocal next_index
        with lock:
            index = next_index
            if plan.count is not None and index * per_request >= plan.count:
                return None
            next_index += 1
            return index

    def body_for(index: int) -> tuple[bytes, int]:
        size = per_request if plan.count is None else min(per_request, plan.count - index * per_request)
        readings = []
        for j in range(size):
            n = index * per_request + j
            sensor = f"sensor-{n % plan.sensors + 1}"
            # Distinct timestamps per sensor: the table's key is sensor + timestamp.
            with lock:
                reading = make_reading(rng, sensor, base_ts + n, None if plan.batch else plan.model)
                if plan.rows:
                    del reading["data"]
                    reading["features"] = plan.rows[n % len(plan.rows)]
                if plan.keep_sent_ids:
                    stats.sent_ids.add(f"{sensor}:{reading['timestamp']}")
            readings.append(reading)
        body = {"model": plan.model, "readings": readings} if plan.batch else readings[0]
        return json.dumps(body).encode(), size

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
            body, size = body_for(index)
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
                stats.record(status, seconds, size, answer, example=message_of(raw))
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


def build_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Send sensor readings to the nrt-inference API.", epilog=epilog)
    p.add_argument("--url", default="http://127.0.0.1:3000", help="API base URL (default: the local API)")
    p.add_argument("--rate", type=float, default=10.0, help="readings per second; 0 for as fast as possible")
    p.add_argument("--count", type=int, help="readings to send (default 100 unless --duration)")
    p.add_argument("--duration", type=float, help="seconds to send for")
    p.add_argument("--sensors", type=int, default=5, help="number of simulated sensors")
    p.add_argument("--batch", type=int, default=0, help="readings per request (1-100); 0 sends single readings")
    p.add_argument("--concurrency", type=int, default=8, help="parallel connections")
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
    p.add_argument("--csv", help="send named features from this CSV's rows (cycled) instead of three numbers")
    p.add_argument("--drop", default="", help="with --csv: comma-separated columns not to send (the label)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


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


def plan_from_args(args: argparse.Namespace) -> Plan:
    if args.batch < 0 or args.batch > 100:
        raise SystemExit("--batch must be between 0 and 100")
    if args.sensors < 1:
        raise SystemExit("--sensors must be at least 1")
    count = args.count if args.count is not None else (None if args.duration else 100)
    return Plan(
        url=args.url,
        rate=args.rate,
        count=count,
        duration=args.duration,
        sensors=args.sensors,
        batch=args.batch,
        concurrency=args.concurrency,
        model=args.model,
        api_key=args.api_key,
        path="/events" if args.use_async else "/predictions",
        seed=args.seed,
        rows=feature_rows(args.csv, [c.strip() for c in args.drop.split(",") if c.strip()]) if args.csv else [],
    )


def main(argv: list[str] | None = None, epilog: str | None = None) -> int:
    args = build_parser(epilog).parse_args(argv)
    plan = plan_from_args(args)
    stats = run(plan, None if args.json else progress_line(sys.stderr))
    summary = stats.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        sys.stderr.write("\n")
        print(format_summary(summary))
    ok = {200, 202}
    return 0 if summary["readings"] and set(summary["by_status"]) <= ok else 1


if __name__ == "__main__":
    sys.exit(main())
