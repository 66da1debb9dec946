"""The two tiers and the prediction cache side by side in one run: `nrt up --latency-tier`, the
default model `failure` on the endpoint tier (the workflow, then its model host), and the same
model deployed again as `failure-fast` with `--tier lambda` (scored in the nrt up process by
the PredictFunction), `failure-cached` with `--cache` and `failure-fast-cached` with both. Each is
sent the same workload of single readings, a share of which repeat a recent reading's data
(`nrt produce --repeat`), in turn, round after round.

make bench            # or: .venv/bin/python -m benchmarks.tiers --count 1000 --rounds 2 --repeat 0.5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from benchmarks.e2e import cpu_by_process, machine
from benchmarks.stack import ROOT, Stack, nrt_up
from nrt.default_model import DEFAULT_MODEL
from nrt.statedir import StateDir
from producer import producer

CACHE_SECONDS = 600
# Each variant: the model's name, the tier and whether the cache is on.
VARIANTS = {
    DEFAULT_MODEL: ("endpoint", False),
    f"{DEFAULT_MODEL}-cached": ("endpoint", True),
    f"{DEFAULT_MODEL}-fast": ("lambda", False),
    f"{DEFAULT_MODEL}-fast-cached": ("lambda", True),
}


def deploy(stack: Stack, model: str) -> None:
    """`nrt deploy-model MODEL --local --tier T [--cache S]`, as a user runs it."""
    tier, cached = VARIANTS[model]
    subprocess.run(
        [sys.executable, "-m", "nrt.cli", "deploy-model", model, "--local", "--tier", tier,
         *(["--cache", str(CACHE_SECONDS)] if cached else []),
         "--model-dir", str(StateDir(stack.state).model(DEFAULT_MODEL)), "--state-dir", str(stack.state),
         "--aws-port", str(stack.aws_port)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip


def measure(stack: Stack, model: str, count: int, concurrency: int, repeat: float, seed: int) -> dict[str, Any]:
    """count single readings to model: the producer's summary, the share answered from the cache
    and the CPU per reading of each process."""
    plan = producer.Plan(
        url=stack.url, rate=0, count=count, concurrency=concurrency, sensors=50, model=model, repeat=repeat,
        seed=seed, keep_answers=True,
    )  # fmt: skip
    before = cpu_by_process(stack)
    stats = producer.run(plan, producer.progress_line(sys.stderr))
    after = cpu_by_process(stack)
    sys.stderr.write("\n")
    cpu_ms = {name: round((after[name] - before.get(name, 0.0)) * 1000 / count, 2) for name in after}
    hits = sum(1 for body, _ in stats.answers if body.get("cached") is True)
    tier, cached = VARIANTS[model]
    variant = tier + (" + cache" if cached else "")
    return {"variant": variant, **stats.summary(), "hit_rate": round(hits / count, 3), "cpu_ms_per_reading": cpu_ms}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="single readings per tier and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each tier once per round, alternating")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=float, default=0.5, help="the share of readings that repeat recent data")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with nrt_up("--latency-tier") as stack:
        for model in VARIANTS:
            if model != DEFAULT_MODEL:
                deploy(stack, model)
        # Warm-up: the first requests pay for imports, connections, a model host's start and
        # the Lambda tier's first load of the model (another seed: the cache starts cold).
        for model in VARIANTS:
            measure(stack, model, 50, args.concurrency, 0.0, seed=1)
        results = [
            measure(stack, model, args.count, args.concurrency, args.repeat, seed=10 + n)
            for n in range(args.rounds)
            for model in VARIANTS
        ]
    print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d')}); {args.repeat:.0%} of readings repeat a recent one")
    print(
        f"{'variant':<17} {'readings':>9} {'readings/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'hits':>6}"
        "  CPU ms per reading  statuses"
    )
    for r in results:
        cpu = "  ".join(f"{k} {v}" for k, v in r["cpu_ms_per_reading"].items() if k != "producer")
        print(
            f"{r['variant']:<17} {r['readings']:>9} {r['readings_per_s']:>11} {r['p50_ms']:>8} {r['p99_ms']:>8}"
            f" {r['hit_rate']:>6}  {cpu}  {r['by_status']}"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
