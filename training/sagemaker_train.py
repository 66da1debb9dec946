"""Training entry point for SageMaker's scikit-learn container (the retraining workflow's job).

SageMaker runs it with the hyperparameters in SM_HPS and writes /opt/ml/model (SM_MODEL_DIR)
to model.tar.gz. The model directory also gets code/inference.py, so the artifact is
servable as it is. The held-out metric is printed as `validation:roc_auc=<value>`, which the
job's MetricDefinitions turn into FinalMetricDataList for the quality gate.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from training import inference
from training.train import train

METRIC_LINE = "validation:roc_auc={:.6f}"


def run(model_dir: Path, hyperparameters: dict[str, Any], channels: dict[str, Path]) -> str:
    """Train into model_dir; returns the log lines the metric definitions read."""
    csv_files = sorted(channels["train"].glob("*.csv")) if "train" in channels else []
    evaluation = train(
        model_dir,
        rows=int(hyperparameters.get("rows", 20_000)),
        seed=int(hyperparameters.get("seed", 7)),
        noise=float(hyperparameters.get("noise", 0.0)),
        csv=csv_files[0] if csv_files else None,
        name=str(hyperparameters.get("model", model_dir.name)),
        progress=lambda step: print(step, flush=True),
    )
    (model_dir / "code").mkdir(exist_ok=True)
    shutil.copy(inference.__file__, model_dir / "code" / "inference.py")
    line = METRIC_LINE.format(evaluation.roc_auc)
    print(line, flush=True)
    return line + "\n"


def main() -> int:
    hyperparameters = json.loads(os.environ.get("SM_HPS", "{}"))
    channels = {
        name.removeprefix("SM_CHANNEL_").lower(): Path(value)
        for name, value in os.environ.items()
        if name.startswith("SM_CHANNEL_")
    }
    run(Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model")), hyperparameters, channels)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run_local(job_name: str, hyperparameters: dict[str, str]) -> tuple[bytes, str]:
    """A training job on this machine, as the embedded AWS runs it: (model.tar.gz, log).

    It runs in its own process, as on SageMaker (its own container): training libraries may
    change process-wide state (signal dispositions, thread pools) that the caller must keep.
    """
    import io
    import subprocess
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix=f"{job_name}-") as scratch:
        model_dir = Path(scratch) / "model"
        model_dir.mkdir()
        env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SM_HPS": json.dumps(hyperparameters), "MPLBACKEND": "Agg"}
        done = subprocess.run(
            [sys.executable, "-m", "training.sagemaker_train"],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            cwd=Path(__file__).resolve().parent.parent,
        )
        log = done.stdout + done.stderr
        if done.returncode != 0:
            last = log.strip().splitlines()[-1] if log.strip() else f"exit {done.returncode}"
            raise RuntimeError(last)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(model_dir.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=path.relative_to(model_dir).as_posix())
        return buffer.getvalue(), log
