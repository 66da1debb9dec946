"""training/sagemaker_train.py's run(), the retraining job: the candidate and the serving model
(its model.tar.gz, the `serving` channel) scored on the same held-out rows, printed for the
workflow's MetricDefinitions, with a reason and no traceback when the serving model cannot be scored."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from training import sagemaker_train
from training.gate import Verdict
from training.inference import SIGNATURE
from training.package import package
from training.prepare import prepare_channel
from training.train import Recipe, train


def printed(lines: str) -> dict[str, float]:
    return {name: float(value) for name, value in re.findall(r"validation:(\w+)=(-?[0-9.]+)", lines)}


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A multi-class model trained on the wine CSV (its recipe folder), and its model.tar.gz."""
    folder = tmp_path_factory.mktemp("wine")
    frame = load_wine(as_frame=True).frame.rename(columns=lambda c: c.replace("/", "_"))
    frame.to_csv(folder / "wine.csv", index=False)
    train(folder / "model", Recipe(str(folder / "wine.csv"), "target", None, "multiclass"))
    package(folder / "model", folder / "serving" / "model.tar.gz")
    return folder, folder / "serving"


def recipe_folder(tmp_path: Path, trained: Path, **changes: Any) -> Path:
    """The train channel as deploy-model uploads it: the signature (its recipe changed) and the CSV."""
    channel = tmp_path / "train"
    channel.mkdir()
    signature = json.loads((trained / "model" / SIGNATURE).read_text())
    signature["recipe"].update(changes)
    signature["recipe"] = {k: v for k, v in signature["recipe"].items() if v is not ...}
    (channel / SIGNATURE).write_text(json.dumps(signature))
    for data in trained.glob("*.csv"):
        shutil.copy(data, channel / data.name)
    return channel


def test_retrained_on_the_same_data_both_models_are_scored_on_the_same_rows_and_it_is_not_worse(wine, tmp_path):
    trained, serving = wine

    lines = sagemaker_train.run(
        tmp_path / "out", {"model": "wine"}, {"train": recipe_folder(tmp_path, trained), "serving": serving}
    )

    metrics = printed(lines)
    assert metrics["gate_verdict"] == Verdict.NOT_WORSE
    assert metrics["holdout_rows"] == 36  # 20% of 178
    assert metrics["gate_metric"] == pytest.approx(metrics["macro_f1"], abs=1e-4)
    # the same data, the same seeded split: the serving model's own hold-out, and the same model
    assert metrics["serving_metric"] == metrics["gate_metric"]
    assert (metrics["gate_difference_low"], metrics["gate_difference_high"]) == (0, 0)
    report = json.loads((tmp_path / "out" / sagemaker_train.GATE_REPORT).read_text())
    assert (report["metric"], report["rows"], report["verdict"]) == ("macro_f1", 36, "NOT_WORSE")


def test_a_candidate_with_a_weaker_recipe_is_judged_worse_than_the_serving_model_on_the_same_rows(wine, tmp_path):
    trained, serving = wine
    channel = recipe_folder(tmp_path, trained, features=["ash"])  # one weak feature

    metrics = printed(sagemaker_train.run(tmp_path / "out", {}, {"train": channel, "serving": serving}))

    assert metrics["gate_verdict"] == Verdict.WORSE
    assert metrics["gate_metric"] < metrics["serving_metric"] - 0.3
    assert metrics["gate_difference_high"] < 0


def test_a_serving_artifact_that_does_not_load_leaves_the_gate_undecided_with_the_reason(wine, tmp_path, capsys):
    trained, _ = wine
    broken = tmp_path / "serving"
    broken.mkdir()
    (broken / "model.tar.gz").write_bytes(b"not a tar file")

    lines = sagemaker_train.run(tmp_path / "out", {}, {"train": recipe_folder(tmp_path, trained), "serving": broken})

    metrics = printed(lines)
    assert metrics["gate_verdict"] == Verdict.SERVING_NOT_SCORED and "serving_metric" not in metrics
    assert (
        "gate: SERVING_NOT_SCORED: the serving model was not scored on the hold-out: model.tar.gz does not load: "
        in lines
    )
    assert "Traceback" not in capsys.readouterr().out


def test_without_a_serving_channel_the_candidate_is_scored_and_the_gate_says_why_it_cannot_judge(wine, tmp_path):
    trained, _ = wine

    lines = sagemaker_train.run(tmp_path / "out", {}, {"train": recipe_folder(tmp_path, trained)})

    assert printed(lines)["gate_verdict"] == Verdict.SERVING_NOT_SCORED
    assert "no model.tar.gz in the serving channel" in lines


def test_a_serving_model_whose_features_the_hold_out_lacks_is_not_scored_and_named(wine, tmp_path):
    trained, serving = wine
    channel = recipe_folder(tmp_path, trained)
    for data in channel.glob("*.csv"):
        pd.read_csv(data).drop(columns=["proline"]).to_csv(data, index=False)
    prepare_channel(channel, tmp_path / "prepared", contract_change=True)  # a deliberate contract change

    lines = sagemaker_train.run(tmp_path / "out", {}, {"train": tmp_path / "prepared", "serving": serving})

    assert printed(lines)["gate_verdict"] == Verdict.SERVING_NOT_SCORED
    assert "the hold-out has no column proline (a feature of the model)" in lines


def test_a_prepared_channels_holdout_csv_is_the_hold_out_both_are_judged_on(wine, tmp_path):
    trained, serving = wine
    prepare_channel(recipe_folder(tmp_path, trained), tmp_path / "prepared")  # training/prepare.py's layout
    held = pd.read_csv(tmp_path / "prepared" / sagemaker_train.HOLDOUT)

    lines = sagemaker_train.run(tmp_path / "out", {}, {"train": tmp_path / "prepared", "serving": serving})

    assert printed(lines)["holdout_rows"] == len(held)


@pytest.fixture(scope="module")
def rare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Breast cancer with malignant cut to 30 of 387 rows (about 8% positives), trained by nrt train."""
    folder = tmp_path_factory.mktemp("rare")
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["malignant"] = np.where(frame.pop("target") == 0, "yes", "no")
    rng = np.random.default_rng(0)
    keep = np.r_[
        np.flatnonzero(frame["malignant"] == "no"),
        rng.choice(np.flatnonzero(frame["malignant"] == "yes"), 30, replace=False),
    ]
    frame.iloc[keep].to_csv(folder / "rare.csv", index=False)
    train(folder / "model", Recipe(str(folder / "rare.csv"), "malignant", None, "binary", positive_label="yes"))
    package(folder / "model", folder / "serving" / "model.tar.gz")
    return folder


def test_rare_positives_are_judged_by_pr_auc_by_default_and_the_recipe_keeps_the_choice(rare):
    recipe = json.loads((rare / "model" / SIGNATURE).read_text())["recipe"]
    evaluation = json.loads((rare / "model" / "evaluation.json").read_text())

    assert recipe["gate_metric"] == "pr_auc" == evaluation["metric"]


def test_a_model_trained_before_the_metric_could_be_chosen_keeps_its_kinds_metric(rare, tmp_path):
    channel = recipe_folder(tmp_path, rare, gate_metric=...)  # a recipe without the key, as old ones are

    sagemaker_train.run(tmp_path / "out", {}, {"train": channel, "serving": rare / "serving"})

    report = json.loads((tmp_path / "out" / sagemaker_train.GATE_REPORT).read_text())
    assert report["metric"] == "roc_auc"
    assert json.loads((tmp_path / "out" / SIGNATURE).read_text())["recipe"]["gate_metric"] == "roc_auc"


def test_a_chosen_metric_of_another_kind_is_refused_naming_the_choices(rare, tmp_path):
    with pytest.raises(
        ValueError, match="--gate-metric 'rmse' does not judge a binary model: choose one of pr_auc, roc_auc"
    ):
        train(tmp_path / "model", Recipe(str(rare / "rare.csv"), "malignant", None, "binary", gate_metric="rmse"))
