"""Local end-to-end throughput and latency: `nrt up` in its own process, the producer against it.

make bench            # or: .venv/bin/python -m benchmarks.e2e --single 2000 --batched 20000

Side by side with older code in one run: `--baseline REF [REF ...] --runs 2` exports each REF
(`git archive`, no worktree) to a temporary folder and runs that code's own `benchmarks.e2e`
with this venv, alternating with this checkout's (REF, this, REF, this), then prints each
run's figures.

`--definition REF` runs this checkout's `nrt up` with commit REF's inference workflow
(benchmarks/definitions.py): with `--baseline REF` too, a third code in the same run, so the
runtime's own cost (the same workflow on both) is apart from the workflow's growth.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.definitions import deploy_definition
from benchmarks.stack import ROOT, Stack, child_processes, cpu_seconds, nrt_up
from producer import producer


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


PROCESS_NAMES = {"nrt.hosts.host": "model host", "nrt.lake.stream": "stream worker"}


def cpu_by_process(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by `nrt up`, its model hosts and stream worker, and this process."""
    processes = {stack.process.pid: "nrt up", **child_processes(stack.process.pid)}
    used: dict[str, float] = {"producer": time.process_time()}
    for pid, name in processes.items():
        seconds = cpu_seconds(pid)
        if seconds is not None:
            name = PROCESS_NAMES.get(name, name)
            used[name] = used.get(name, 0.0) + seconds
    return used


def measure(stack: Stack, count: int, batch: int, concurrency: int) -> dict[str, Any]:
    plan = producer.Plan(url=stack.url, rate=0, count=count, batch=batch, concurrency=concurrency, sensors=50)
    before = cpu_by_process(stack)
    summary = producer.run(plan, producer.progress_line(sys.stderr)).summary()
    after = cpu_by_process(stack)
    sys.stderr.write("\n")
    cpu_ms = {name: round((after[name] - before[name]) * 1000 / count, 2) for name in after if name in before}
    return {
        "scenario": f"batch {batch}" if batch else "single",
        "concurrency": concurrency,
        **summary,
        "cpu_ms_per_reading": cpu_ms,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=1000, help="single readings to send")
    parser.add_argument("--batched", type=int, default=10000, help="readings to send in batches of 50")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline", metavar="REF", nargs="+", help="also run these commits, alternating")
    parser.add_argument("--runs", type=int, default=2, help="with --baseline: runs of each, alternating")
    parser.add_argument("--definition", metavar="REF", help="run this checkout with REF's inference workflow")
    return parser


def run_checkout(
    root: Path, single: int, batched: int, concurrency: int, definition: str | None = None
) -> list[dict[str, Any]]:
    """The results of the checkout at root's own `benchmarks.e2e`, run with this interpreter."""
    command = [sys.executable, "-m", "benchmarks.e2e", "--single", str(single), "--batched", str(batched),
               "--concurrency", str(concurrency), *(["--definition", definition] if definition else [])]  # fmt: skip
    # Its folder first on the path, ahead of this checkout's editable install.
    env = {**os.environ, "PYTHONPATH": str(root)}
    finished = subprocess.run(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True, check=True)
    results: list[dict[str, Any]] = json.loads(finished.stdout.strip().splitlines()[-1])
    return [r for r in results if r["readings"]]  # older code measured a scenario of 0 readings too


def stop_left_behind(root: Path) -> list[int]:
    """Stop what a finished run of older code left running from its folder (Linux /proc): code
    of before 2026-12-06 left its model host behind when `nrt up` stopped. The pids stopped."""
    stopped = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if not cwd.resolve().is_relative_to(root.resolve()) or int(cwd.parent.name) == os.getpid():
                continue
            os.kill(int(cwd.parent.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue
        stopped.append(int(cwd.parent.name))
    return stopped


def run_once(
    label: str, root: Path, single: int, batched: int, concurrency: int, workflow: str | None
) -> list[dict[str, Any]]:
    """One run of a code's `benchmarks.e2e`; what an older code left running is stopped after it."""
    results = run_checkout(root, single, batched, concurrency, workflow)
    if root != ROOT and (left := stop_left_behind(root)):
        print(f"{label}: stopped {len(left)} process(es) its run left behind", file=sys.stderr)
    return results


def export(ref: str, folder: Path) -> str:
    """The files of commit REF in folder (no git worktree); its short name."""
    commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    folder.mkdir()
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return commit.stdout.strip()


def side_by_side(
    refs: list[str], runs: int, single: int, batched: int, concurrency: int, definition: str | None = None
) -> None:
    """Each REF and this checkout (also with REF's workflow, given a definition), alternating:
    each run's readings/s, p99 and CPU per reading."""
    with tempfile.TemporaryDirectory(prefix="nrt-baseline-") as scratch:
        codes: list[tuple[str, Path, str | None]] = [
            (export(ref, Path(scratch) / str(i)), Path(scratch) / str(i), None) for i, ref in enumerate(refs)
        ]
        if definition:
            codes.append((f"this+{definition}", ROOT, definition))
        codes.append(("this", ROOT, None))
        rows = [
            (label, run, r)
            for run in range(1, runs + 1)
            for label, root, workflow in codes
            for r in run_once(label, root, single, batched, concurrency, workflow)
        ]
    print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d %H:%M')})")
    if definition:
        print(f"this+{definition}: this checkout's nrt up running {definition}'s inference workflow")
    print(f"{'code':<16} {'run':>3} {'scenario':<10} {'readings/s':>10} {'p99 ms':>8} {'nrt up CPU ms/reading':>22}")
    order = [label for label, _, _ in codes]
    for label, run, r in sorted(rows, key=lambda row: (row[2]["scenario"], order.index(row[0]), row[1])):
        cpu = r["cpu_ms_per_reading"].get("nrt up")
        print(f"{label:<16} {run:>3} {r['scenario']:<10} {r['readings_per_s']:>10} {r['p99_ms']:>8} {cpu:>22}")


def scenarios(single: int, batched: int) -> list[tuple[int, int]]:
    """(readings, batch size) to measure: single readings, then batches of 50; a count of 0
    leaves its scenario out. A negative count, or nothing at all to measure, is refused."""
    if single < 0 or batched < 0:
        raise ValueError("--single and --batched count readings: 0 or more")
    chosen = [(count, batch) for count, batch in ((single, 0), (batched, 50)) if count > 0]
    if not chosen:
        raise ValueError("nothing to measure: give --single or --batched more than 0")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        planned = scenarios(args.single, args.batched)
    except ValueError as problem:
        parser.error(str(problem))
    if args.baseline:
        side_by_side(args.baseline, args.runs, args.single, args.batched, args.concurrency, args.definition)
        return 0

    with nrt_up() as stack:
        if args.definition:
            deploy_definition(stack, args.definition)
        # Warm-up: the first executions pay for imports and connections.
        measure(stack, 50, 0, args.concurrency)
        results = [measure(stack, count, batch, args.concurrency) for count, batch in planned]
    print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d')})")
    print(f"{'scenario':<10} {'readings':>9} {'readings/s':>11} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for r in results:
        print(
            f"{r['scenario']:<10} {r['readings']:>9} {r['readings_per_s']:>11} {r['p50_ms']:>8} {r['p99_ms']:>8}"
            f"  {r['by_status']}"
        )
    print("CPU ms per reading, by process (the embedded AWS, the local API and the workflow run in `nrt up`):")
    for r in results:
        print(f"{r['scenario']:<10} " + "  ".join(f"{k} {v}" for k, v in r["cpu_ms_per_reading"].items()))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
