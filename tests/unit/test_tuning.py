"""training/tune.py: `nrt train --tune`, a bounded search over a stated space on the training rows
only, and a model card that lists the trials and the winner (issue 25)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest

from training.examples import diabetes_csv
from training.inference import ARTIFACT, SIGNATURE
from training.train import MODEL_CARD, TUNED, Evaluation, Recipe, train
from training.tune import DEFAULTS, SPACE, TIMEOUT_SECONDS, TRIALS, parameters_from, tune, tuner


def tuned(directory: Path, trials: int, timeout: float = 60.0) -> tuple[Evaluation, dict[str, Any]]:
    evaluation = train(
        directory / "model",
        Recipe(str(diabetes_csv(directory)), "target", None, "regression"),
        tuner=tuner(trials, timeout),
    )
    return evaluation, json.loads((directory / "model" / MODEL_CARD).read_text())


@pytest.fixture(scope="module")
def diabetes_tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Evaluation, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("tuned")
    evaluation, card = tuned(directory, trials=6)
    return directory / "model", evaluation, card


def test_the_space_is_the_boosters_tuned_parameters_and_the_defaults_lie_inside_it():
    assert tuple(SPACE) == TUNED
    for name, value in DEFAULTS.items():
        assert SPACE[name].low <= value <= SPACE[name].high


def test_a_tuning_jobs_hyperparameters_arrive_as_strings_and_are_typed_by_the_space():
    passed = {"learning_rate": "0.05", "max_leaf_nodes": "17", "min_samples_leaf": "9.0", "model": "m", "rows": "2000"}
    assert parameters_from(passed) == {"learning_rate": 0.05, "max_leaf_nodes": 17, "min_samples_leaf": 9}
    assert parameters_from({"model": "m"}) is None


def test_the_card_lists_every_trial_and_the_winner_is_the_best_finished_one(diabetes_tuned):
    _, _, card = diabetes_tuned
    tuning = card["algorithm"]["tuning"]
    trials = tuning["trials"]
    assert [t["trial"] for t in trials] == [1, 2, 3, 4, 5, 6]
    assert trials[0]["params"] == DEFAULTS  # the defaults run first
    assert {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"}
    assert "PRUNED" in {t["state"] for t in trials}  # median pruning stops a trial below the median at a stage
    for trial in trials:
        assert all(SPACE[k].low <= v <= SPACE[k].high for k, v in trial["params"].items())
    finished = [t for t in trials if t["state"] == "COMPLETE"]
    best = min(finished, key=lambda t: t["value"])  # RMSE: lower is better
    assert tuning["winner"] == {"trial": best["trial"], "params": best["params"], "value": best["value"]}
    assert tuning["direction"] == "minimize"


def test_the_served_model_and_its_recipe_carry_the_winners_parameters(diabetes_tuned):
    directory, _, card = diabetes_tuned
    winner = card["algorithm"]["tuning"]["winner"]["params"]
    served = joblib.load(directory / ARTIFACT).get_params()
    assert {name: served[name] for name in TUNED} == winner
    assert json.loads((directory / SIGNATURE).read_text())["recipe"]["parameters"] == winner
    assert {k: card["algorithm"]["parameters"][k] for k in TUNED} == winner


def test_the_search_sees_the_training_rows_only_never_the_held_out_ones(tmp_path):
    seen: list[int] = []

    def spy(recipe: Recipe, features: Any, named: bool, x: pd.DataFrame, y: Any, progress: Any) -> Any:
        seen.append(len(y))
        return tune(recipe, features, named, x, y, progress, trials=1)

    evaluation = train(tmp_path / "m", Recipe(str(diabetes_csv(tmp_path)), "target", None, "regression"), tuner=spy)
    assert seen == [evaluation.train_rows]


@pytest.mark.parametrize("trials, timeout, ran", [(2, 60.0, 2), (5, 0.001, 1)])
def test_the_search_stops_at_its_trials_or_its_time_whichever_comes_first(tmp_path, trials, timeout, ran):
    _, card = tuned(tmp_path, trials, timeout)
    assert len(card["algorithm"]["tuning"]["trials"]) == ran
    assert card["algorithm"]["tuning"]["budget"] == {"trials": trials, "timeout_seconds": timeout}


def test_without_tune_the_card_says_nothing_was_searched(tmp_path):
    train(tmp_path / "m", Recipe(str(diabetes_csv(tmp_path)), "target", None, "regression"))
    tuning = json.loads((tmp_path / "m" / MODEL_CARD).read_text())["algorithm"]["tuning"]
    assert tuning["tuned"] is False


def parsed(*argv: str) -> argparse.Namespace:
    from nrt.cli.models import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    return parser.parse_args(["train", "m", *argv])


def test_nrt_train_tunes_only_with_tune_and_its_bounds_default_to_the_modules():
    from nrt.cli.models import UsageError, tuner_of

    assert tuner_of(parsed()) is None
    assert tuner_of(parsed("--tune")) is not None
    with pytest.raises(UsageError, match="add --tune"):
        tuner_of(parsed("--trials", "3"))
    parser = argparse.ArgumentParser()
    from nrt.cli.models import tuning_flags

    tuning_flags(parser)
    assert f"default {TRIALS}" in parser.format_help()
    assert f"default {TIMEOUT_SECONDS:g}" in parser.format_help()


def test_nrt_train_tune_prints_each_trial_and_writes_the_card(tmp_path, capsys):
    from nrt.cli.models import cmd_train

    args = parsed("--csv", str(diabetes_csv(tmp_path)), "--label", "target", "--tune", "--trials", "2")
    args.state_dir = str(tmp_path / "state")
    assert cmd_train(args) == 0
    out = capsys.readouterr().out
    assert "tuning: trial 1/2 complete" in out and "tuning: trial 2/2" in out
    assert "wins" in out


def test_a_binary_search_scores_the_positive_labels_pr_auc_and_the_threshold_follows_the_winner(tmp_path):
    evaluation = train(tmp_path / "m", Recipe("synthetic", "label", None, "binary", rows=2000), tuner=tuner(2))
    tuning = json.loads((tmp_path / "m" / MODEL_CARD).read_text())["algorithm"]["tuning"]
    assert tuning["objective"] == "validation PR AUC of the positive label" and tuning["direction"] == "maximize"
    assert 0.5 < tuning["winner"]["value"] <= 1.0
    assert 0.0 < evaluation.metrics["threshold"] < 1.0


@pytest.mark.parametrize(
    "flag, expected",
    [([], {"model": "m"}), (["--tune"], {"model": "m", "tune": True}), (["--no-tune"], {"model": "m", "tune": False})],
)
def test_nrt_retrain_asks_the_workflow_to_tune_only_when_told_else_the_stack_decides(flag, expected):
    from nrt.cli.models import add_commands, retrain_input

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    assert retrain_input(parser.parse_args(["retrain", "m", *flag])) == expected
