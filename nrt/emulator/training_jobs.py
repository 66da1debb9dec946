"""SageMaker training jobs on this machine: the embedded AWS runs a job's entry point
(training/sagemaker_train.py, as the scikit-learn container would) in a process of its own.
Kept out of the entry point, which ships to SageMaker."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from nrt.template import ROOT


def run_local(
    job_name: str, hyperparameters: dict[str, str], channels: dict[str, dict[str, bytes]] | None = None
) -> tuple[bytes, str]:
    """A training job on this machine, as the embedded AWS runs it: (model.tar.gz, log).

    `channels` holds each input channel's files (relative name -> bytes), copied from S3 into
    the channel's folder as SageMaker does in File mode.

    It runs in its own process, as on SageMaker (its own container): training libraries may
    change process-wide state (signal dispositions, thread pools) that the caller must keep.
    """
    with tempfile.TemporaryDirectory(prefix=f"{job_name}-") as scratch:
        model_dir = Path(scratch) / "model"
        model_dir.mkdir()
        env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SM_HPS": json.dumps(hyperparameters), "MPLBACKEND": "Agg"}
        for channel, files in (channels or {}).items():
            env[f"SM_CHANNEL_{channel.upper()}"] = str(write_channel(Path(scratch) / "input" / channel, files))
        done = subprocess.run(
            [sys.executable, "-m", "training.sagemaker_train"],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            cwd=ROOT,
        )
        log = done.stdout + done.stderr
        if done.returncode != 0:
            last = log.strip().splitlines()[-1] if log.strip() else f"exit {done.returncode}"
            raise RuntimeError(last)
        return archive(model_dir), log


def write_channel(folder: Path, files: dict[str, bytes]) -> Path:
    """An input channel's files in its folder, as SageMaker copies them from S3 in File mode."""
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def archive(model_dir: Path) -> bytes:
    """model.tar.gz of what the job wrote to SM_MODEL_DIR."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(model_dir).as_posix())
    return buffer.getvalue()
