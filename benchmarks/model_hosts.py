"""What model hosts cost: the memory of `nrt up`'s model hosts with N deployed models of which 2
are used, and how long a restart with those N endpoints takes to be ready and to answer.

.venv/bin/python -m benchmarks.model_hosts --models 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from benchmarks.e2e import machine
from benchmarks.stack import ROOT, Stack, child_processes, nrt_up

USED = 2  # models that receive readings
IDLE_SECONDS = 10  # --model-idle-seconds, where `nrt up` has it


def post(url: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def reading(model: str, i: int) -> dict[str, Any]:
    return {"model": model, "sensor": "bench", "timestamp": 1795342530000 + i, "data": [12, 87, i % 40]}


def host_rss_mb(stack: Stack) -> tuple[int, float]:
    """(model hosts running, their resident memory in MB)."""
    hosts = [pid for pid, module in child_processes(stack.process.pid).items() if module == "nrt.hosts.host"]
    total = 0
    for pid in hosts:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return len(hosts), total / 1024


def has_idle_flag() -> bool:
    done = subprocess.run([sys.executable, "-m", "nrt.cli", "up", "--help"], cwd=ROOT, capture_output=True, text=True)
    return "--model-idle-seconds" in done.stdout


def answered(stack: Stack, model: str, i: int, seconds: float = 120) -> float:
    """Seconds until a reading to `model` is answered 200 (retrying a 503 as a producer does)."""
    started = time.monotonic()
    while post(f"{stack.url}/predictions", reading(model, i)) != 200:
        if time.monotonic() - started > seconds:
            raise RuntimeError(f"{model} not answered in {seconds:g} s")
        time.sleep(0.1)
    return time.monotonic() - started


def run(models: int) -> dict[str, Any]:
    idle = ["--model-idle-seconds", str(IDLE_SECONDS)] if has_idle_flag() else []
    names = [f"bench{i}" for i in range(models)]
    out: dict[str, Any] = {"models": models, "used": USED, "idle_flag": bool(idle)}
    with TemporaryDirectory() as scratch:
        state = Path(scratch)
        with nrt_up("--flush-seconds", "1", *idle, state=state) as stack:
            started = time.monotonic()
            for name in names:
                done = subprocess.run(
                    [sys.executable, "-m", "nrt.cli", "deploy-model", name, "--model-dir",
                     str(state / "models" / "failure"), "--local", "--aws-port", str(stack.aws_port),
                     "--state-dir", str(state)],
                    cwd=ROOT, capture_output=True, text=True, timeout=300,
                )  # fmt: skip
                if done.returncode != 0:
                    raise RuntimeError(done.stdout + done.stderr)
            out["deploy_s"] = round(time.monotonic() - started, 1)
            # Readings to 2 models, for the idle period and then some: unused hosts settle
            # (started eagerly before; stopped after idling now).
            until = time.monotonic() + IDLE_SECONDS + 10
            i = 0
            while time.monotonic() < until:
                for name in names[:USED]:
                    answered(stack, name, i)
                i += 1
                time.sleep(0.5)
            out["hosts"], rss = host_rss_mb(stack)
            out["hosts_rss_mb"] = round(rss)
        started = time.monotonic()
        with nrt_up("--flush-seconds", "1", *idle, state=state) as stack:
            out["restart_ready_s"] = round(time.monotonic() - started, 1)
            out["hosts_at_ready"] = host_rss_mb(stack)[0]
            out["first_reading_s"] = round(answered(stack, names[-1], 10_000), 2)
            out["restart_to_answer_s"] = round(time.monotonic() - started, 1)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20, help="endpoints deployed (2 of them get readings)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"machine: {machine()}")
    print(json.dumps(run(args.models)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
