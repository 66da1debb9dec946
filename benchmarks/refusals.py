"""What a reading the model refuses costs, beside one it scores: `nrt up` in its own process,
the same number of each sent single, one connection at a time, to the demo model.

.venv/bin/python -m benchmarks.refusals --readings 200
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from typing import Any

from benchmarks.e2e import machine
from benchmarks.stack import Stack, nrt_up


def post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"{url}/predictions", json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def rate(stack: Stack, readings: int, data: list[float], first_timestamp: int) -> dict[str, Any]:
    """Readings a second and the answers' statuses, for `readings` single readings carrying data."""
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    for i in range(readings):
        body = {"sensor": f"bench-{i % 50}", "model": "failure", "timestamp": first_timestamp + i, "data": data}
        status = post(stack.url, body)
        statuses[status] = statuses.get(status, 0) + 1
    seconds = time.perf_counter() - start
    return {"readings_per_s": round(readings / seconds, 1), "ms_per_reading": round(seconds * 1000 / readings, 1),
            "statuses": statuses}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=200, help="readings of each kind to send")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    base = int(time.time() * 1000) // 1000 * 1000
    with nrt_up() as stack:
        post(stack.url, {"sensor": "warm", "model": "failure", "timestamp": base - 1, "data": [12, 87, 20]})
        scored = rate(stack, args.readings, [12, 87, 20], base)
        refused = rate(stack, args.readings, [12, 87], base + args.readings)  # one feature short: a 400
    print(json.dumps({"machine": machine(), "scored": scored, "refused": refused}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
