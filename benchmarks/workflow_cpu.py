"""CPU time the embedded AWS spends per workflow execution, in-process, with no HTTP in front.

Throughput on a shared 2-core machine swings by a third from run to run; CPU time per
execution is the steadier figure for comparing changes to nrt/compat.py.

.venv/bin/python -m benchmarks.workflow_cpu --single 200 --batches 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.e2e import _free_port, machine
from nrt import compat, embedded
from nrt.runtime import deploy_local_endpoint


def _model_host() -> ThreadingHTTPServer:
    """A model host that answers every row at once, so the figure is the workflow's own cost."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["instances"]
            data = json.dumps({"predictions": [{"prediction": 0, "probability": 0.1} for _ in rows]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _cpu_ms(runs: int, once: Callable[[], None]) -> float:
    started = time.process_time()
    for _ in range(runs):
        once()
    return (time.process_time() - started) * 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=200, help="single-reading executions to time")
    parser.add_argument("--batches", type=int, default=10, help="batches of 50 to time")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    aws = embedded.start(port=_free_port())
    embedded.provision(aws)
    host = _model_host()
    endpoint = deploy_local_endpoint(aws, "bench", Path("/nonexistent"))
    compat.MODEL_HOSTS[endpoint] = f"http://127.0.0.1:{host.server_address[1]}"
    clock = itertools.count(1_700_000_000_000)

    def reading() -> dict[str, Any]:
        return {"sensor": "bench", "model": "bench", "timestamp": next(clock), "data": [12, 87, 20]}

    def execute(body: dict[str, Any]) -> None:
        result = compat.start_sync_execution(
            aws.state_machine_arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region
        )
        if result["status"] != "SUCCEEDED":
            raise SystemExit(f"execution failed: {result}")

    try:
        for _ in range(20):  # warm-up: imports, parse cache, connections
            execute(reading())
        single = _cpu_ms(args.single, lambda: execute(reading())) / args.single
        batched = _cpu_ms(args.batches, lambda: execute({"model": "bench", "readings": [reading() for _ in range(50)]}))
        per_reading = batched / (args.batches * 50)
    finally:
        host.shutdown()
        aws.stop()
    print(f"machine: {machine()}")
    print(f"single reading   {single:6.2f} ms CPU per execution   ({args.single} executions)")
    print(f"batch of 50      {per_reading:6.2f} ms CPU per reading     ({args.batches} batches)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
