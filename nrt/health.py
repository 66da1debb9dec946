"""The local stack's health: readings/s, p99, failures and lake lag, as one line.

`nrt up` prints the line every few seconds while there is traffic; `GET /status` on the
local API answers the same figures as JSON, and `nrt status` prints them on demand.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nrt.stats import percentile

# A stream worker that has not reported for this long is stalled or restarting.
STALE_SECONDS = 5.0


@dataclass
class Answered:
    at: float
    status: int
    seconds: float
    readings: int


@dataclass
class Health:
    """Answers of the local API over a sliding window, plus what the stack reports."""

    window_seconds: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _recent: deque[Answered] = field(default_factory=deque)
    _totals: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, seconds: float, readings: int) -> None:
        """One answer of the workflow: its status, how long it took, how many readings it carried."""
        now = self.clock()
        with self._lock:
            self._recent.append(Answered(now, status, seconds, readings))
            self._totals["readings"] += readings
            self._totals["requests"] += 1
            self._totals[f"{status // 100}xx"] += 1
            self._trim(now)

    def record_event(self, status: int) -> None:
        """One /events execution's outcome, as an answer would have carried it (409, 404, ...):
        the caller has its 202 already, so it is counted apart from the answers."""
        with self._lock:
            self._totals["events"] += 1
            self._totals[f"events {status // 100}xx"] += 1

    def _trim(self, now: float) -> None:
        while self._recent and now - self._recent[0].at > self.window_seconds:
            self._recent.popleft()

    def window(self) -> dict[str, Any]:
        """readings/s and latency percentiles over the window; totals since start."""
        now = self.clock()
        with self._lock:
            self._trim(now)
            recent = list(self._recent)
            totals = dict(self._totals)
        latencies = sorted(a.seconds for a in recent)
        return {
            "readings_per_s": round(sum(a.readings for a in recent) / self.window_seconds, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "errors_in_window": sum(1 for a in recent if a.status >= 400),
            "window_s": self.window_seconds,
            "totals": totals,
        }


# --- the stream worker's report ------------------------------------------------------------


def write_stream_status(
    path: Path, buffered: int, oldest_ms: int | None, rows_total: int, error: str | None = None
) -> bool:
    """What the stream worker holds now, and why it cannot write the lake (if so), written
    atomically after every poll; False when it could not be written (a full disk), which
    the worker outlives: the report then ages, and the health line says so."""
    status = {
        "at_ms": int(time.time() * 1000),
        "buffered": buffered,
        "oldest_ms": oldest_ms,
        "rows": rows_total,
        "error": error,
    }
    partial = path.with_suffix(".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(status))
        partial.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return False
    return True


def lake_lag(path: Path, now_ms: int | None = None) -> dict[str, Any]:
    """Seconds the oldest change not yet in the lake has waited; whether the worker reports."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"lake_lag_s": None, "stream": "not reporting"}
    age = (now_ms - int(status["at_ms"])) / 1000
    oldest = status.get("oldest_ms")
    lag = (now_ms - int(oldest)) / 1000 if oldest is not None else 0.0
    if age > STALE_SECONDS:
        state = f"not reporting for {age:.0f} s"
    elif status.get("error"):
        state = f"cannot write the lake: {status['error']}"
    else:
        state = "ok"
    return {"lake_lag_s": round(max(lag, 0.0), 1), "lake_rows": int(status.get("rows", 0)), "stream": state}


# --- the line ------------------------------------------------------------------------------


def line(status: dict[str, Any]) -> str:
    """`health  42.0 readings/s  p99 120 ms  answered 1200 (4xx 3, 5xx 1)  failure store 4  lake lag 1.2 s`."""
    lag = status.get("lake_lag_s")
    parts = [
        f"{status.get('readings_per_s', 0):.1f} readings/s",
        f"p99 {status.get('p99_ms', 0):.0f} ms",
        _answered(status.get("totals", {})),
        *_events(status.get("totals", {})),
        f"failure store {status.get('failure_store', '?')}",
        f"lake lag {lag:.1f} s" if lag is not None else "lake lag ?",
    ]
    return "health  " + "  ".join(parts + _troubles(status) + _disk(status))


def _answered(totals: dict[str, int]) -> str:
    """`answered 1200 (4xx 3, 5xx 1)`."""
    answered = f"answered {totals.get('requests', 0)}"
    errors = [f"{k} {totals[k]}" for k in ("4xx", "5xx") if totals.get(k)]
    return answered + f" ({', '.join(errors)})" if errors else answered


def _events(totals: dict[str, int]) -> list[str]:
    """`events 40 (4xx 2)`: the /events executions run, none if there were none."""
    if not totals.get("events"):
        return []
    errors = [f"{k} {totals[f'events {k}']}" for k in ("4xx", "5xx") if totals.get(f"events {k}")]
    return [f"events {totals['events']}" + (f" ({', '.join(errors)})" if errors else "")]


def _troubles(status: dict[str, Any]) -> list[str]:
    """What is wrong besides the figures: the stream worker, the store, model hosts, injected faults."""
    troubles = []
    if status.get("stream", "ok") != "ok":
        troubles.append(f"stream worker {status['stream']}")
    if status.get("store_error"):
        waiting = status.get("store_waiting", "?")
        troubles.append(f"store cannot write: {status['store_error']} ({waiting} changes wait, kept once it can)")
    down = status.get("models_down") or {}
    if down:
        troubles.append("model hosts down: " + ", ".join(f"{e} ({why})" for e, why in sorted(down.items())))
    injected = status.get("faults_injected")
    if injected:
        troubles.append("faults " + ", ".join(f"{k} {v}" for k, v in sorted(injected.items())))
    return troubles + _quality(status)


def _quality(status: dict[str, Any]) -> list[str]:
    """Live model quality (nrt/lake/quality.py): a model below its training metric is named; one
    with too few labelled readings says so, which is no alarm."""
    judged = status.get("quality") or []
    below = [q["words"] for q in judged if q["state"] == "below training"]
    waiting = [q["words"] for q in judged if q["state"] in ("too few labelled", "error")]
    words = [f"quality below training: {'; '.join(below)}"] if below else []
    return words + ([f"quality: {'; '.join(waiting)}"] if waiting else [])


def _disk(status: dict[str, Any]) -> list[str]:
    """`disk full: ...` while writes are refused; `disk has room again ...` on the first line after."""
    disk = status.get("disk") or {}
    if disk.get("full"):
        return [f"disk full: {disk.get('reason')}; new writes refused (503, Retry-After), reads go on"]
    after = status.get("disk_recovered_after_s")
    if after is not None:
        return [f"disk has room again after {after:.0f} s of full: writes accepted"]
    return []


def idle(status: dict[str, Any]) -> bool:
    """Nothing to report: no traffic, nothing waiting for the lake or the store, the disk fine."""
    quiet = status.get("readings_per_s") == 0 and not status.get("lake_lag_s") and status.get("stream") == "ok"
    return quiet and not _disk(status) and not status.get("store_error")


def stream_on_full_disk(state: str, disk_full: bool, alive: bool) -> str:
    """The stream worker's state as the line shows it. On a full disk its report cannot be
    written either: one that ages while the worker runs is the disk's doing."""
    if disk_full and alive and state.startswith("not reporting"):
        return f"holding changes until the disk has room ({state})"
    return state


@dataclass
class DiskNews:
    """Remembers a full disk from one health line to the next, so that the first line after
    the disk has room again says so."""

    full_for_s: float | None = None

    def note(self, status: dict[str, Any]) -> None:
        """Read the disk's state in status; add `disk_recovered_after_s` when it just recovered."""
        disk = status.get("disk") or {}
        if disk.get("full"):
            self.full_for_s = float(disk.get("full_for_s") or 0.0)
        elif self.full_for_s is not None:
            status["disk_recovered_after_s"] = self.full_for_s
            self.full_for_s = None
