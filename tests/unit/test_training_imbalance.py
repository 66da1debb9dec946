"""training/train.py on rare positives: the stratified validation quarter, the class weights and
a model card that says what was really fitted (issue 25)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from benchmarks.imbalance import cancer, made
from training.inference import ARTIFACT
from training.train import (
    CALIBRATION_FOLDS,
    MIN_VALIDATION_MINORITY,
    MODEL_CARD,
    PARAMETERS,
    VALIDATION_SHARE,
    Recipe,
    train,
)

SEED = 7


def fitted(directory: Path, frame: pd.DataFrame, **recipe: Any) -> tuple[dict[str, Any], float]:
    """Train on the frame as `nrt train --csv` does; the card and the held-out PR AUC."""
    directory.mkdir(parents=True, exist_ok=True)
    csv = directory / "data.csv"
    frame.to_csv(csv, index=False)
    evaluation = train(directory / "model", Recipe(str(csv), "label", None, "binary", seed=SEED, **recipe))
    card = json.loads((directory / "model" / MODEL_CARD).read_text())
    return card, evaluation.metrics["pr_auc"]


@pytest.fixture(scope="module")
def rare() -> pd.DataFrame:
    return made(10_000, SEED)  # about 0.5% positives, 1% of the labels drawn at random


@pytest.fixture(scope="module")
def rare_model(rare: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float]:
    directory = tmp_path_factory.mktemp("rare")
    card, pr_auc = fitted(directory, rare)
    return directory / "model", card, pr_auc


def test_given_rare_positives_the_validation_quarter_is_stratified_and_holds_them(rare, rare_model):
    _, card, _ = rare_model
    fitting = card["algorithm"]["fitting"]
    training_positives = round(int(rare["label"].sum()) * 0.8)
    assert fitting["validation_minority_rows"] >= MIN_VALIDATION_MINORITY
    assert abs(fitting["validation_minority_rows"] - training_positives * VALIDATION_SHARE) <= 1
    assert fitting["fit_rows"] + fitting["validation_rows"] == fitting["train_rows"] == 8000


def test_the_card_reports_the_iterations_the_served_model_ran_and_its_class_weights(rare_model):
    directory, card, _ = rare_model
    pairs = joblib.load(directory / ARTIFACT).calibrated_classifiers_
    fitting = card["algorithm"]["fitting"]
    assert len(pairs) == fitting["calibration_folds"] == CALIBRATION_FOLDS
    for served in pairs:
        assert fitting["iterations"] == served.estimator.n_iter_ == card["algorithm"]["parameters"]["max_iter"]
        assert fitting["class_weight"] == "balanced" == served.estimator.class_weight
    assert fitting["max_iter"] == PARAMETERS["max_iter"]
    assert fitting["probabilities"].startswith("recalibrated: the mean of 4 boosters")


def test_on_rare_positives_the_default_beats_the_old_early_stopping_on_the_same_split(rare, rare_model):
    _, _, after = rare_model
    x, y = rare.drop(columns="label"), rare["label"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    old = HistGradientBoostingClassifier(**PARAMETERS, early_stopping=True, random_state=SEED).fit(x_train, y_train)
    before = average_precision_score(y_test, old.predict_proba(x_test)[:, 1])
    assert after > before


def test_with_too_few_of_the_rare_class_to_validate_on_every_iteration_runs(tmp_path):
    card, _ = fitted(tmp_path, cancer(SEED, positives=12), class_weight="none")
    fitting = card["algorithm"]["fitting"]
    assert fitting["validation_minority_rows"] < MIN_VALIDATION_MINORITY
    assert fitting["iterations"] == PARAMETERS["max_iter"]
    assert f"fewer than {MIN_VALIDATION_MINORITY}" in fitting["iterations_rule"]
    assert fitting["class_weight"] == "none"
    assert fitting["probabilities"].startswith("recalibrated")


def test_an_unknown_class_weight_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--class-weight 'heavy'"):
        fitted(tmp_path, cancer(SEED, positives=12), class_weight="heavy")


@pytest.mark.parametrize("flag, expected", [([], "balanced"), (["--class-weight", "none"], "none")])
def test_nrt_train_takes_class_weight_into_the_recipe(tmp_path, flag, expected):
    from nrt.cli.models import add_commands, training_recipe

    cancer(SEED).to_csv(tmp_path / "data.csv", index=False)
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["train", "m", "--csv", str(tmp_path / "data.csv"), "--label", "label", *flag])
    assert training_recipe(args).class_weight == expected


def test_a_regression_card_reports_the_iterations_its_model_ran(tmp_path):
    from training.examples import diabetes_csv

    train(tmp_path / "model", Recipe(str(diabetes_csv(tmp_path)), "target", None, "regression"))
    fitting = json.loads((tmp_path / "model" / MODEL_CARD).read_text())["algorithm"]["fitting"]
    assert fitting["iterations"] == joblib.load(tmp_path / "model" / ARTIFACT).n_iter_ == PARAMETERS["max_iter"]
    assert fitting["iterations_rule"].startswith("all max_iter")


def test_on_rare_positives_the_served_probabilities_are_recalibrated_to_the_positive_rate(rare, rare_model):
    from benchmarks.imbalance import calibrations, held_out

    directory, card, _ = rare_model
    measured = calibrations(joblib.load(directory / ARTIFACT), *held_out(rare, SEED))
    served, booster = measured["served"], measured["uncalibrated"]
    assert served["ece"] < booster["ece"]
    assert abs(served["mean_p"] - measured["positive_rate"]) < abs(booster["mean_p"] - measured["positive_rate"])
    assert card["evaluation"]["brier"] == round(served["brier"], 6)
    assert card["algorithm"]["fitting"]["calibration"] == "sigmoid"
