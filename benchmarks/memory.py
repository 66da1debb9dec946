"""What `nrt up` keeps in memory per stored prediction, and what its start costs with a full table:
N readings streamed through a real `nrt up` (batched /predictions), its resident memory (VmRSS)
at intervals, then its start-up time on an empty state directory and on the one just filled.

.venv/bin/python -m benchmarks.memory --readings 100000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.e2e import machine
from benchmarks.stack import Stack, child_processes, nrt_up
from nrt.emulator.server import local_name
from nrt.state.store import Store
from nrt.statedir import StateDir
from nrt.template import LocalContext
from producer import producer

WARM_UP = 1000  # readings before the baseline: imports, the model host, caches


def rss_mb(pid: int) -> float:
    """A process's resident memory (VmRSS, Linux /proc) in MB; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


def stream_worker_rss_mb(stack: Stack) -> float:
    return sum(rss_mb(pid) for pid, module in child_processes(stack.process.pid).items() if module == "nrt.lake.stream")


def stored(state: Path) -> int:
    """Items in the predictions table as state.db holds them (read beside the running stack)."""
    store = Store(StateDir(state).store)
    try:
        return store.count(local_name("PredictionsTable", LocalContext()))
    finally:
        store.close()


@dataclass
class Sampler:
    """The producer's progress callback: one RSS sample each time `every` more readings are answered."""

    stack: Stack
    every: int
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, stats: producer.Stats) -> None:
        if stats.readings >= (len(self.samples) + 1) * self.every:
            self.sample(stats.readings)

    def sample(self, readings: int) -> None:
        row = {
            "readings": readings,
            "seconds": round(time.monotonic() - self.started, 1),
            "nrt_up_rss_mb": round(rss_mb(self.stack.process.pid), 1),
            "stream_worker_rss_mb": round(stream_worker_rss_mb(self.stack), 1),
        }
        self.samples.append(row)
        print(json.dumps(row), flush=True)


def stream(state: Path, readings: int, every: int, concurrency: int, seconds: float) -> dict[str, Any]:
    """Send `readings` in batches of 50 (at most `seconds`), sampling RSS; the figures."""
    with nrt_up(state=state) as stack:
        producer.run(producer.Plan(url=stack.url, rate=0, count=WARM_UP, batch=50, concurrency=concurrency))
        time.sleep(2)
        base_rss, base_items = rss_mb(stack.process.pid), stored(state)
        sampler = Sampler(stack, every)
        plan = producer.Plan(
            url=stack.url, rate=0, count=readings, batch=50, concurrency=concurrency, sensors=50, duration=seconds
        )
        summary = producer.run(plan, sampler).summary()
        time.sleep(2)
        end_rss, end_items = rss_mb(stack.process.pid), stored(state)
        if not sampler.samples or sampler.samples[-1]["readings"] < summary["readings"]:
            sampler.sample(summary["readings"])
    added = max(1, end_items - base_items)
    return {
        "readings_sent": summary["readings"],
        "by_status": summary["by_status"],
        "readings_per_s": summary["readings_per_s"],
        "stored_predictions": end_items,
        "nrt_up_rss_mb": {"after_warm_up": round(base_rss, 1), "end": round(end_rss, 1)},
        "rss_kb_per_stored_prediction": round((end_rss - base_rss) * 1024 / added, 3),
        "samples": sampler.samples,
    }


def start_up(state: Path, rounds: int) -> dict[str, Any]:
    """Seconds from `nrt up` to its banner, and its RSS then (median of rounds)."""
    seconds, rss = [], []
    for _ in range(rounds):
        began = time.monotonic()
        with nrt_up(state=state) as stack:
            seconds.append(time.monotonic() - began)
            rss.append(rss_mb(stack.process.pid))
    return {"ready_s": round(statistics.median(seconds), 2), "rss_mb": round(statistics.median(rss), 1)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000, help="readings to stream (batches of 50)")
    parser.add_argument("--every", type=int, default=10_000, help="an RSS sample every this many readings")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=1800, help="stop sending after this long")
    parser.add_argument("--rounds", type=int, default=3, help="start-ups timed per state directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d')})", flush=True)
    with tempfile.TemporaryDirectory(prefix="nrt-memory-") as scratch:
        empty, full = Path(scratch) / "empty", Path(scratch) / "full"
        result = stream(full, args.readings, args.every, args.concurrency, args.max_seconds)
        result["start_up_empty"] = start_up(empty, args.rounds)
        result["start_up_full"] = {"items": stored(full), **start_up(full, args.rounds)}
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
