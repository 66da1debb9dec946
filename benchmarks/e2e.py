"""Local end-to-end throughput and latency: `nrt up` in its own process, the producer against it.

make bench            # or: .venv/bin/python -m benchmarks.e2e --single 2000 --batched 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from producer import producer

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    api_port = _free_port()
    with tempfile.TemporaryDirectory() as state:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nrt.cli", "up", "--api-port", str(api_port), "--aws-port", str(_free_port()),
             "--state-dir", state],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            while "Ctrl-C" not in (line := proc.stdout.readline()):
                if not line:
                    raise SystemExit("nrt up did not start")
            url = f"http://127.0.0.1:{api_port}"
            # Warm-up: the first executions pay for imports and connections.
            measure(url, 50, 0, args.concurrency)
            results = [
                measure(url, args.single, 0, args.concurrency),
                measure(url, args.batched, 50, args.concurrency),
            ]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
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
