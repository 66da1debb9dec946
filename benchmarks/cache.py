"""The prediction cache, off and then on, in one run: `nrt up` in its own process, the producer's
workload repeating a stated share of readings (`nrt produce --repeat SHARE`), the demo model
`failure` deployed again with `--cache` between the two halves.

.venv/bin/python -m benchmarks.cache --readings 1000 --repeat 0.8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from benchmarks.e2e import cpu_by_process, machine
from benchmarks.stack import ROOT, Stack, nrt_up
from nrt.statedir import StateDir
from producer import producer

MODEL = "failure"


def send(stack: Stack, readings: int, repeat: float, concurrency: int, seed: int) -> dict[str, Any]:
    """Single readings as fast as `concurrency` connections go; hit rate, latency, model calls, CPU."""
    plan = producer.Plan(
        url=stack.url,
        rate=0,
        count=readings,
        concurrency=concurrency,
        sensors=50,
        model=MODEL,
        seed=seed,
        repeat=repeat,
        keep_answers=True,
    )
    before = cpu_by_process(stack)
    stats = producer.run(plan)
    after = cpu_by_process(stack)
    summary = stats.summary()
    cached = sum(1 for body, _ in stats.answers if body.get("cached") is True)
    answered = summary["by_status"].get(200, 0)
    return {
        "answered": answered,
        "by_status": summary["by_status"],
        "hit_rate": round(cached / max(1, answered), 3),
        "model_calls": answered - cached,  # one call per single reading not answered from the cache
        "readings_per_s": summary["readings_per_s"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "nrt_up_cpu_ms_per_reading": round((after["nrt up"] - before["nrt up"]) * 1000 / max(1, answered), 2),
        "model_host_cpu_ms_per_reading": round(
            (after.get("model host", 0.0) - before.get("model host", 0.0)) * 1000 / max(1, answered), 2
        ),
    }


def deploy_cache(stack: Stack, seconds: int) -> None:
    """`nrt deploy-model failure --local --cache SECONDS`: the same model, its cache set."""
    model_dir = StateDir(stack.state).model(MODEL)
    subprocess.run(
        [sys.executable, "-m", "nrt.cli", "deploy-model", MODEL, "--local", "--state-dir", str(stack.state),
         "--model-dir", str(model_dir), "--cache", str(seconds)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=1000, help="single readings in each half")
    parser.add_argument("--repeat", type=float, default=0.8, help="the share of readings that repeat recent data")
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    parser.add_argument("--cache-seconds", type=int, default=600, help="the cache's --cache SECONDS")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with nrt_up() as stack:
        send(stack, 20, 0.0, 1, seed=0)  # the model host started, the first connections made
        off = send(stack, args.readings, args.repeat, args.concurrency, seed=1)
        deploy_cache(stack, args.cache_seconds)
        send(stack, 20, 0.0, 1, seed=0)  # the redeployed model's host started
        on = send(stack, args.readings, args.repeat, args.concurrency, seed=2)
    result = {"machine": machine(), "readings": args.readings, "repeat": args.repeat, "off": off, "on": on}
    print(json.dumps(result, indent=1))
    rows = ["hit_rate", "model_calls", "readings_per_s", "p50_ms", "p99_ms", "nrt_up_cpu_ms_per_reading"]
    print(f"\n{'':<28} {'cache off':>10} {'cache on':>10}")
    for row in rows:
        print(f"{row:<28} {off[row]:>10} {on[row]:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
