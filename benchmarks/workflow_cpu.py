"""CPU time the embedded AWS spends per workflow execution, in-process, with no HTTP in front.

Throughput on a shared 2-core machine swings by a third from run to run; CPU time per
execution is the steadier figure for comparing changes to nrt/emulator.py. Each round runs
twice, side by side: with the tables kept in the local stack's store (as `nrt up` runs them,
nrt/state/store.py) and in memory only, so the store's cost per reading is measured in one run.

.venv/bin/python -m benchmarks.workflow_cpu --rounds 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.e2e import machine
from benchmarks.stack import in_process
from nrt import emulator
from nrt.state.restore import keep_changes
from nrt.state.store import GroupCommit, Store


def _cpu_ms(runs: int, once: Callable[[], None]) -> float:
    started = time.process_time()
    for _ in range(runs):
        once()
    return (time.process_time() - started) * 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=200, help="single-reading executions to time")
    parser.add_argument("--batches", type=int, default=10, help="batches of 50 to time")
    parser.add_argument("--rounds", type=int, default=3, help="repeat, then report the median and the best")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    clock = itertools.count(1_700_000_000_000)

    def reading() -> dict[str, Any]:
        return {"sensor": "bench", "model": "bench", "timestamp": next(clock), "data": [12, 87, 20]}

    single: dict[bool, list[float]] = {True: [], False: []}
    per_reading: dict[bool, list[float]] = {True: [], False: []}
    committers: list[GroupCommit] = []
    with in_process() as (aws, state):

        def execute(body: dict[str, Any]) -> None:
            # As the local API answers: once what the execution wrote is kept.
            result = emulator.start_sync_execution(
                aws.state_machine_arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region
            )
            aws.wiring.sync()
            if result["status"] != "SUCCEEDED":
                raise SystemExit(f"execution failed: {result}")

        try:
            for _ in range(20):  # warm-up: imports, parse cache, connections
                execute(reading())

            def one_batch() -> None:
                execute({"model": "bench", "readings": [reading() for _ in range(50)]})

            store = Store(state / "state.db")
            for _ in range(args.rounds):
                for kept in (True, False):
                    if kept:
                        committers.append(keep_changes(aws, store))
                    else:
                        aws.wiring.table_changes = None
                    single[kept].append(_cpu_ms(args.single, lambda: execute(reading())) / args.single)
                    per_reading[kept].append(_cpu_ms(args.batches, one_batch) / (args.batches * 50))
        finally:
            aws.wiring.table_changes = None
            for committer in committers:
                committer.close()
    print(f"machine: {machine()}")
    for kept in (True, False):
        print("tables kept in the store (as nrt up runs)" if kept else "tables in memory only")
        for label, unit, values in (
            ("single reading", "execution", single[kept]),
            ("batch of 50", "reading", per_reading[kept]),
        ):
            print(f"  {label:<15} median {statistics.median(values):6.2f}  best {min(values):6.2f} ms CPU per {unit}")
    print(f"({args.rounds} rounds of {args.single} single executions and {args.batches} batches of 50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
