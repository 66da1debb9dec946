"""model.tar.gz as SageMaker's scikit-learn container expects it: the artifact at the top,
the serving code under code/ (SAGEMAKER_PROGRAM names the entry point)."""

from __future__ import annotations

import io
import tarfile
from importlib.metadata import version
from pathlib import Path

from training import inference
from training.inference import ARTIFACT, SIGNATURE

ENTRY_POINT = "inference.py"
# Shipped next to the artifact, for people and for the retraining quality gate.
REPORTS = ("evaluation.json", "model_card.json", "evaluation.png", "preparation.json", "profile.json")


def package(model_dir: Path, target: Path) -> Path:
    """Write target (a .tar.gz) from a trained model directory; returns target."""
    artifact = model_dir / ARTIFACT
    if not artifact.is_file():
        raise FileNotFoundError(f"{artifact} does not exist: train the model first (nrt train NAME)")
    if not (model_dir / SIGNATURE).is_file():
        raise FileNotFoundError(f"{model_dir / SIGNATURE} does not exist: train the model again (nrt train NAME)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        tar.add(artifact, arcname=ARTIFACT)
        tar.add(model_dir / SIGNATURE, arcname=SIGNATURE)
        for report in REPORTS:
            if (model_dir / report).is_file():
                tar.add(model_dir / report, arcname=report)
        _add_code(tar, model_dir / "code")
    return target


def _add_code(tar: tarfile.TarFile, code: Path) -> None:
    """code/: the files of --code DIR, and the project's inference.py unless DIR brings its own."""
    files = sorted(p for p in code.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if code.is_dir() else []
    for path in files:
        tar.add(path, arcname=f"code/{path.relative_to(code).as_posix()}")
    if not (code / ENTRY_POINT).is_file():  # the project's serving code, as it is now, not a copy frozen in the model
        tar.add(Path(inference.__file__), arcname=f"code/{ENTRY_POINT}")


def unpack(archive: Path, model_dir: Path) -> Path:
    """Extract a model.tar.gz (as SageMaker does into /opt/ml/model); refuses unsafe paths."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(model_dir, filter="data")
    if not (model_dir / ARTIFACT).is_file():
        raise ValueError(f"{archive} has no {ARTIFACT} at its top level")
    return model_dir


def package_training_code(target: Path) -> Path:
    """The sagemaker_submit_directory of the retraining job: the training package."""
    root = Path(inference.__file__).resolve().parent
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for source in sorted(root.glob("*.py")):
            tar.add(source, arcname=f"training/{source.name}")
        # The container runs the entry point from the top of the submit directory.
        tar.add(root / "sagemaker_train.py", arcname="sagemaker_train.py")
        # The container installs these before it runs the entry point.
        requirements = f"matplotlib=={version('matplotlib')}\n".encode()
        info = tarfile.TarInfo("requirements.txt")
        info.size = len(requirements)
        tar.addfile(info, io.BytesIO(requirements))
    return target
