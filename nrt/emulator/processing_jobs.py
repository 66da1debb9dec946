"""SageMaker Processing jobs on this machine: the embedded AWS runs the Python module a job's
ContainerEntrypoint runs (training/prepare.py, as the scikit-learn container would after
unpacking training.tar.gz) in a process of its own, with its ContainerArguments, its inputs
copied to the job's local paths and its outputs read back from them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nrt.emulator.training_jobs import write_channel
from nrt.template import ROOT

CONTAINER_ROOT = "/opt/ml/"
# The file a processing container writes why it stopped to: DescribeProcessingJob's ExitMessage.
EXIT_MESSAGE = "/opt/ml/output/message"
MAX_EXIT_MESSAGE = 1024  # AWS shows its first 1 KB
MODULE = re.compile(r"python3? -m ([A-Za-z_][\w.]*)")


@dataclass(frozen=True)
class Finished:
    """What a processing job left: each output's files (by local path), its log, its exit code
    and its exit message (None when it wrote none)."""

    outputs: dict[str, dict[str, bytes]]
    log: str
    exit_code: int
    exit_message: str | None


def module_of(entrypoint: list[str]) -> str:
    """The Python module a ContainerEntrypoint runs (`python3 -m MODULE`)."""
    found = MODULE.search(" ".join(entrypoint))
    if found is None:
        raise ValueError(f"the entry point {entrypoint} runs no `python3 -m MODULE`: not runnable locally")
    return found.group(1)


def run_local(
    job_name: str, entrypoint: list[str], arguments: list[str], inputs: dict[str, dict[str, bytes]], outputs: list[str]
) -> Finished:
    """A processing job on this machine: `inputs` maps each input's LocalPath to its files, copied
    there as SageMaker does in File mode; `outputs` lists the LocalPaths whose files are kept."""
    with tempfile.TemporaryDirectory(prefix=f"{job_name}-") as scratch:

        def local(path: str) -> str:
            return (
                path.replace(CONTAINER_ROOT, f"{scratch}{CONTAINER_ROOT}", 1)
                if path.startswith(CONTAINER_ROOT)
                else path
            )

        for path, files in inputs.items():
            write_channel(Path(local(path)), files)
        for path in outputs:
            Path(local(path)).mkdir(parents=True, exist_ok=True)
        message = Path(local(EXIT_MESSAGE))
        message.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", module_of(entrypoint), *map(local, arguments), "--exit-message", str(message)],
            env={**os.environ, "MPLBACKEND": "Agg"},
            capture_output=True,
            text=True,
            timeout=3600,
            cwd=ROOT,
        )
        kept = {
            path: {
                f.relative_to(local(path)).as_posix(): f.read_bytes()
                for f in sorted(Path(local(path)).rglob("*"))
                if f.is_file()
            }
            for path in outputs
        }
        exit_message = message.read_bytes()[:MAX_EXIT_MESSAGE].decode(errors="replace") if message.is_file() else None
        return Finished(kept, done.stdout + done.stderr, done.returncode, exit_message)
