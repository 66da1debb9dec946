"""Training entry point for SageMaker's scikit-learn container (the retraining workflow's job).

SageMaker runs it with the hyperparameters in SM_HPS and the `train` channel in
SM_CHANNEL_TRAIN, and writes /opt/ml/model (SM_MODEL_DIR) to model.tar.gz. The channel is the
model's prepared recipe folder (training/prepare.py's layout: signature.json with the recipe,
train.csv, holdout.csv and manifest.json), or a raw recipe folder, prepared here first. The model directory also gets
code/inference.py, so the artifact is servable as it is. The held-out metric of the model's
kind is printed as `validation:<metric>=<value>` (roc_auc, macro_f1 or rmse) and again as
`validation:gate_metric=<value>`, which the job's MetricDefinitions turn into
FinalMetricDataList for the quality gate. As a trial of a hyperparameter tuning job it takes the
tuned parameters among its hyperparameters (training/tune.py's SPACE, as strings) and reports
`validation:objective=<value>`, its score on training rows only, which the tuning job optimises.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from training import inference, tune
from training.dataset import is_prepared
from training.prepare import csv_files, prepare_channel
from training.train import Recipe, train

METRIC_LINE = "validation:{}={:.6f}"
GATE_METRIC = "gate_metric"  # the kind's metric again, under the one name the workflow's gate reads
# A tuning job's objective: the model's score on training rows only (training/tune.py), never the gate's.
TUNING_OBJECTIVE = "objective"


class NoRecipe(ValueError):
    """The channel does not say how to train this model again."""


def recipe_from(channel: Path, scratch: Path) -> Recipe:
    """The recipe in the channel's signature.json, its data the channel's prepared rows.

    The retraining workflow's channel is training/prepare.py's output (its manifest.json among
    the files); a raw recipe folder (signature.json and CSV files) is prepared here first, by the
    same step, so a channel made before preparation existed still trains."""
    signature_file = channel / inference.SIGNATURE
    if not signature_file.is_file():
        raise NoRecipe(f"no {inference.SIGNATURE} in the train channel: the model has no retraining recipe")
    recipe = json.loads(signature_file.read_text()).get("recipe")
    if not recipe:
        raise NoRecipe("the model's signature has no recipe: it was not trained by nrt train")
    if recipe["source"] == "synthetic":
        return Recipe(**recipe)
    if not is_prepared(channel):
        if not csv_files(channel):
            raise NoRecipe(f"the recipe trains on a CSV, and the train channel holds none ({channel})")
        prepare_channel(channel, scratch / "prepared")
        return recipe_from(scratch / "prepared", scratch)
    return Recipe(**{**recipe, "data": str(channel)})


def run(model_dir: Path, hyperparameters: dict[str, Any], channels: dict[str, Path]) -> str:
    """Train into model_dir by the channel's recipe; returns the log line the metric definitions read."""
    with tempfile.TemporaryDirectory() as scratch:
        recipe = (
            recipe_from(channels["train"], Path(scratch))
            if "train" in channels
            else Recipe("synthetic", "label", None, "binary")
        )
        if recipe.source == "synthetic" and "rows" in hyperparameters:
            recipe = Recipe(**{**recipe.__dict__, "rows": int(hyperparameters["rows"])})
        evaluation = train(
            model_dir,
            recipe,
            name=str(hyperparameters.get("model", model_dir.name)),
            progress=lambda step: print(step, flush=True),
            tuner=tune.sagemaker_trial(hyperparameters),  # a tuning job's trial: its parameters
        )
    own_code = channels["train"] / "code" if "train" in channels else None
    if own_code is not None and (own_code / "inference.py").is_file():
        shutil.copytree(own_code, model_dir / "code")  # the model's own serving code (--code DIR) serves it again
    else:
        (model_dir / "code").mkdir(exist_ok=True)
        shutil.copy(inference.__file__, model_dir / "code" / "inference.py")
    lines = METRIC_LINE.format(evaluation.metric, evaluation.value) + "\n"
    lines += METRIC_LINE.format(GATE_METRIC, evaluation.value) + "\n"
    lines += METRIC_LINE.format(TUNING_OBJECTIVE, tune.objective_of(model_dir)) + "\n"
    print(lines, end="", flush=True)
    return lines


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
