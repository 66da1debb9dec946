"""The two tiers side by side in one run: `nrt up --latency-tier`, the default model `failure`
on the endpoint tier (the workflow, then its model host) and the same model deployed again as
`failure-fast` with `--tier lambda` (scored in the nrt up process by the PredictFunction),
sent the same single readings, alternating, twice each.

make bench            # or: .venv/bin/python -m benchmarks.tiers --count 1000 --rounds 2
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

FAST = f"{DEFAULT_MODEL}-fast"


def deploy_lambda_tier(stack: Stack) -> None:
    """`nrt deploy-model failure-fast --local --tier lambda`, as a user runs it."""
    subprocess.run(
        [sys.executable, "-m", "nrt.cli", "deploy-model", FAST, "--local", "--tier", "lambda",
         "--model-dir", str(StateDir(stack.state).model(DEFAULT_MODEL)), "--state-dir", str(stack.state),
         "--aws-port", str(stack.aws_port)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip


def measure(stack: Stack, model: str, count: int, concurrency: int) -> dict[str, Any]:
    """count single readings to model: the producer's summary and the CPU per reading of each process."""
    plan = producer.Plan(url=stack.url, rate=0, count=count, concurrency=concurrency, sensors=50, model=model)
    before = cpu_by_process(stack)
    summary = producer.run(plan, producer.progress_line(sys.stderr)).summary()
    after = cpu_by_process(stack)
    sys.stderr.write("\n")
    cpu_ms = {name: round((after[name] - before.get(name, 0.0)) * 1000 / count, 2) for name in after}
    tier = "lambda" if model == FAST else "endpoint"
    return {"tier": tier, **summary, "cpu_ms_per_reading": cpu_ms}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="single readings per tier and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each tier once per round, alternating")
    parser.add_argument("--concurrency", type=int, default=8)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with nrt_up("--latency-tier") as stack:
        deploy_lambda_tier(stack)
        # Warm-up: the first requests pay for imports, connections, a model host's start and
        # the Lambda tier's first load of the model.
        for model in (DEFAULT_MODEL, FAST):
            measure(stack, model, 50, args.concurrency)
        results = [
            measure(stack, model, args.count, args.concurrency)
            for _ in range(args.rounds)
            for model in (DEFAULT_MODEL, FAST)
        ]
    print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d')})")
    print(f"{'tier':<9} {'readings':>9} {'readings/s':>11} {'p50 ms':>8} {'p99 ms':>8}  CPU ms per reading  statuses")
    for r in results:
        cpu = "  ".join(f"{k} {v}" for k, v in r["cpu_ms_per_reading"].items() if k != "producer")
        print(
            f"{r['tier']:<9} {r['readings']:>9} {r['readings_per_s']:>11} {r['p50_ms']:>8} {r['p99_ms']:>8}"
            f"  {cpu}  {r['by_status']}"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
