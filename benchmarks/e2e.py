"""Local end-to-end throughput and latency: `nrt up` in its own process, the producer against it.

make bench            # or: .venv/bin/python -m benchmarks.e2e --single 2000 --batched 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from benchmarks.stack import nrt_up
from producer import producer


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def measure(url: str, count: int, batch: int, concurrency: int) -> dict[str, Any]:
    plan = producer.Plan(url=url, rate=0, count=count, batch=batch, concurrency=concurrency, sensors=50)
    summary = producer.run(plan, producer.progress_line(sys.stderr)).summary()
    sys.stderr.write("\n")
    return {"scenario": f"batch {batch}" if batch else "single", "concurrency": concurrency, **summary}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=1000, help="single readings to send")
    parser.add_argument("--batched", type=int, default=10000, help="readings to send in batches of 50")
    parser.add_argument("--concurrency", type=int, default=8)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    with nrt_up() as stack:
        # Warm-up: the first executions pay for imports and connections.
        measure(stack.url, 50, 0, args.concurrency)
        results = [
            measure(stack.url, args.single, 0, args.concurrency),
            measure(stack.url, args.batched, 50, args.concurrency),
        ]
    print(f"machine: {machine()}  ({time.strftime('%Y-%m-%d')})")
    print(f"{'scenario':<10} {'readings':>9} {'readings/s':>11} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for r in results:
        print(
            f"{r['scenario']:<10} {r['readings']:>9} {r['readings_per_s']:>11} {r['p50_ms']:>8} {r['p99_ms']:>8}"
            f"  {r['by_status']}"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
