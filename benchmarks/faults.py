"""Nothing accepted is lost under faults: readings through `nrt up --faults ...`, the stream
worker killed mid-run, then every reading accounted for (stored and in the lake once, or in
the failure store with its reason).

.venv/bin/python -m benchmarks.faults --readings 10000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.e2e import machine
from benchmarks.stack import Stack, nrt_up
from nrt.emulator.server import local_client, local_name
from nrt.lake.stream import CRASH_BEFORE_CHECKPOINT
from nrt.ops.accounting import Accounting, account, lake_inserts, stored_ids
from nrt.ops.failures import scan
from nrt.template import LocalContext
from producer import producer

ISSUE_FAULTS = "model_error=0.05,throttle=0.02,cold_start=0.01,write_error=0.01"
UNKNOWN_MODEL = "not-deployed"


@dataclass
class Outcome:
    accounting: Accounting
    sent: dict[str, Any]
    unknown_model: dict[str, Any]
    status: dict[str, Any]
    worker_kills: int
    worker_restarted: bool
    lake_wait_s: float


def kill_worker(stack: Stack, after: list[float], killed: list[int]) -> threading.Thread:
    """SIGKILL the stream worker at each moment in `after` (seconds from now)."""

    def run() -> None:
        started = time.monotonic()
        for moment in after:
            time.sleep(max(0.0, started + moment - time.monotonic()))
            pid = stack.stream_worker_pid()
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass  # between a crash and its restart

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def get_status(stack: Stack) -> dict[str, Any]:
    with urllib.request.urlopen(f"{stack.url}/status", timeout=60) as resp:
        status: dict[str, Any] = json.loads(resp.read())
        return status


def scenario(stack: Stack, readings: int, batch: int, concurrency: int, kills: list[float]) -> Outcome:
    """Send readings (and some for a model that does not exist), kill the worker, account."""
    first_worker = stack.stream_worker_pid()
    killed: list[int] = []
    killer = kill_worker(stack, kills, killed)
    plan = producer.Plan(
        url=stack.url, rate=0, count=readings, batch=batch, concurrency=concurrency, sensors=50, keep_sent_ids=True
    )
    stats = producer.run(plan, producer.progress_line(sys.stderr))
    sys.stderr.write("\n")
    # Readings for a model nobody deployed: accepted, answered 404 and recorded for replay.
    ghost = producer.run(
        producer.Plan(url=stack.url, rate=0, count=50, batch=10, model=UNKNOWN_MODEL, sensors=5, keep_sent_ids=True)
    )
    killer.join()

    ctx = LocalContext()
    ddb = local_client("dynamodb", f"http://127.0.0.1:{stack.aws_port}", ctx.region)
    stored = stored_ids(ddb, local_name("PredictionsTable", ctx))
    lake = stack.state / "lake"
    waited = time.monotonic()
    inserts = lake_inserts(lake)
    deadline = waited + 120
    while not stored <= set(inserts) and time.monotonic() < deadline:
        sys.stderr.write(f"\r  lake: {len(stored & set(inserts))}/{len(stored)} stored predictions   ")
        time.sleep(1.0)
        inserts = lake_inserts(lake)
    time.sleep(3.0)  # a duplicate, if the worker were to write one, has landed by now
    inserts = lake_inserts(lake)
    sys.stderr.write("\n")
    failures = list(scan(ddb, local_name("FailuresTable", ctx)))
    return Outcome(
        accounting=account(stats.sent_ids | ghost.sent_ids, stored, failures, inserts),
        sent=stats.summary(),
        unknown_model=ghost.summary(),
        status=get_status(stack),
        worker_kills=len(killed),
        worker_restarted=stack.stream_worker_pid() != first_worker,
        lake_wait_s=round(time.monotonic() - waited, 1),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50, help="readings per request (0: single readings)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--faults", default=ISSUE_FAULTS)
    parser.add_argument("--seed", type=int, default=1, help="the faults' seed")
    parser.add_argument("--kill-at", type=float, nargs="*", default=[5.0, 30.0], help="kill the worker at these s")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The worker also crashes once on its own, after a write and before its checkpoint.
    with nrt_up(
        "--faults", args.faults, "--faults-seed", str(args.seed), "--flush-seconds", "1",
        env={CRASH_BEFORE_CHECKPOINT: "1"},
    ) as stack:  # fmt: skip
        outcome = scenario(stack, args.readings, args.batch, args.concurrency, args.kill_at)
    a = outcome.accounting
    print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d')})")
    print(f"faults: {args.faults} (seed {args.seed}); injected: {outcome.status.get('faults_injected')}")
    print(f"sent: {producer.format_summary(outcome.sent)}")
    print(f"unknown model: {outcome.unknown_model['by_status']}")
    print(f"stream worker: killed {outcome.worker_kills} times plus one crash mid-flush; lake caught up in "
          f"{outcome.lake_wait_s} s")  # fmt: skip
    print(a.summary())
    print(json.dumps({**asdict(outcome), "accounting": {**asdict(a), "lost": sorted(a.lost)[:20]}}, default=list))
    return 0 if a.complete else 1


if __name__ == "__main__":
    sys.exit(main())
