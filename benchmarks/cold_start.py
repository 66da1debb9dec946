"""Cold-start import time of each Lambda function as `sam build` ships it, with and without the
bytecode the build compiles (Lambda's file system is read-only: without it, every cold start
compiles the function and powertools again).

.venv/bin/python -m benchmarks.cold_start --rounds 15
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.e2e import machine
from nrt.template import ROOT, resources

PYTHON = "python3.12"  # the functions' runtime (PYENV_VERSION=3.11.7:3.12.1 makes it resolve)


def build(logical_id: str, into: Path) -> Path:
    """What `sam build` does for the function: its Makefile's build target."""
    code = ROOT / resources()[logical_id]["Properties"]["CodeUri"]
    into.mkdir(parents=True)
    subprocess.run(["make", "-s", "-C", str(code), f"build-{logical_id}", f"ARTIFACTS_DIR={into}"], check=True)
    return into


def lambda_runtime(into: Path) -> Path:
    """boto3 as the Lambda runtime provides it (installed and compiled), shared by both variants."""
    pip = [PYTHON, "-m", "pip", "install", "--quiet", "--no-cache-dir", "boto3", "-t", str(into)]
    subprocess.run(pip, check=True)
    return into


def import_ms(folder: Path, runtime: Path) -> float:
    """Wall time of a fresh interpreter importing the handler module, writing no bytecode."""
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": f"{folder}:{runtime}",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
        "ENDPOINT_PREFIX": "nrt-",
    }
    started = time.perf_counter()
    done = subprocess.run([PYTHON, "-s", "-c", "import app"], cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{folder.name}: import app failed: {done.stderr[-2000:]}")
    return (time.perf_counter() - started) * 1000


def without_bytecode(folder: Path, into: Path) -> Path:
    shutil.copytree(folder, into, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="fresh interpreters per variant")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(machine())
    print(f"{'function':28} {'with bytecode (ms)':>20} {'without (ms)':>14}   median of {args.rounds}")
    with tempfile.TemporaryDirectory(prefix="nrt-cold-") as scratch:
        runtime = lambda_runtime(Path(scratch) / "runtime")
        for logical_id in ("ListModelsFunction", "FirehoseTransformFunction"):
            built = build(logical_id, Path(scratch) / logical_id)
            bare = without_bytecode(built, Path(scratch) / f"{logical_id}-bare")
            with_code, without = [], []
            for _ in range(args.rounds):  # interleaved: the machine's noise hits both alike
                with_code.append(import_ms(built, runtime))
                without.append(import_ms(bare, runtime))
            print(f"{logical_id:28} {statistics.median(with_code):>20.0f} {statistics.median(without):>14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
