"""What `nrt up` keeps when it is stopped mid-flow: Ctrl-C and SIGKILL with a backlog, then a
restart on the same state directory, counting every accepted reading in the lake.

.venv/bin/python -m benchmarks.restarts --events 2000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.e2e import machine
from benchmarks.stack import Stack, nrt_up
from nrt.lake.parquet import read_rows, table_spec

BATCH = 50


def post(url: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def accept(stack: Stack, readings: int, tag: str) -> tuple[set[str], float]:
    """POST /events in batches of 50 on 4 connections; the event ids answered 202, and when the
    last 202 came (monotonic)."""

    def one(i: int) -> set[str]:
        batch = [
            {"sensor": f"{tag}-{j % 10}", "timestamp": 1795342530000 + i * BATCH + j, "data": [12, 87, j % 40],
             "event_id": f"{tag}-{i}-{j}"}
            for j in range(BATCH)
        ]  # fmt: skip
        ok = post(f"{stack.url}/events", {"model": "failure", "readings": batch}) == 202
        return {str(r["event_id"]) for r in batch} if ok else set()

    with ThreadPoolExecutor(4) as pool:
        accepted = set().union(*pool.map(one, range(readings // BATCH)))
    return accepted, time.monotonic()


def in_lake(state: Path) -> list[str]:
    return [str(r["event_id"]) for r in read_rows(state / "lake", table_spec())]


def wait_for(state: Path, expected: set[str], seconds: float) -> tuple[list[str], float]:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        found = in_lake(state)
        if expected <= set(found):
            break
        time.sleep(0.25)
    return in_lake(state), time.monotonic() - started


def scenario(how: str, readings: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nrt-restarts-") as scratch:
        state = Path(scratch)
        with nrt_up("--flush-seconds", "1", state=state, session=True) as stack:
            accepted, last = accept(stack, readings, how)
            stopped = time.monotonic()
            if how == "ctrl-c":
                os.killpg(stack.process.pid, signal.SIGINT)
            else:
                stack.process.kill()
            stack.process.wait(timeout=120)
            stop_seconds = time.monotonic() - stopped
            before = len(set(in_lake(state)) & accepted)
        with nrt_up("--flush-seconds", "1", state=state) as stack:
            found, caught_up = wait_for(state, accepted, 300)
        return {
            "how": how,
            "accepted": len(accepted),
            "stopped_after_last_202_s": round(stopped - last, 2),
            "stop_s": round(stop_seconds, 2),
            "in_lake_before_restart": before,
            "in_lake_after_restart": len(set(found) & accepted),
            "missing": len(accepted - set(found)),
            "duplicates": len(found) - len(set(found)),
            "restart_to_all_in_lake_s": round(caught_up, 1),
        }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="readings accepted before the stop (batches of 50)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"machine: {machine()}")
    for how in ("ctrl-c", "sigkill"):
        print(json.dumps(scenario(how, args.events)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
