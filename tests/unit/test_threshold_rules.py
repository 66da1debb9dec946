"""A binary model's threshold chosen for F1, for a precision to keep, or for the least cost."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.examples import cancer_csv
from training.inference import SIGNATURE, Signature
from training.threshold_rules import parse
from training.train import Recipe, train


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    """Real data, each row scored by a model that did not train on it: malignant (0) as positive."""
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
    scores = cross_val_predict(model, x, y, cv=5, method="predict_proba")[:, 0]
    return y == 0, scores


def precision_recall(truth: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    flagged = scores >= threshold
    caught = int((flagged & truth).sum())
    return caught / max(int(flagged.sum()), 1), caught / int(truth.sum())


@pytest.mark.parametrize("wanted", [0.95, 0.99])
def test_a_precision_rule_keeps_that_precision_with_the_most_recall(scored, wanted):
    truth, scores = scored
    threshold = parse(f"precision:{wanted}").choose(truth, scores)

    precision, recall = precision_recall(truth, scores, threshold)
    assert precision >= wanted
    # every lower threshold that keeps the precision catches no more
    for lower in np.unique(scores[scores < threshold]):
        p, r = precision_recall(truth, scores, float(lower))
        assert p < wanted or r <= recall


def test_a_cost_rule_has_the_least_cost_of_every_threshold(scored):
    truth, scores = scored
    threshold = parse("cost:120:5").choose(truth, scores)

    def cost(t: float) -> float:
        flagged = scores >= t
        return 120 * int((~flagged & truth).sum()) + 5 * int((flagged & ~truth).sum())

    assert cost(threshold) == min(cost(float(t)) for t in np.unique(scores))
    # a missed positive dearer than alarms: more is flagged than at an even cost
    assert threshold <= parse("cost:1:1").choose(truth, scores)


def test_a_precision_no_threshold_reaches_gives_the_best_precision_there_is():
    truth = np.array([True, False, True, False])
    scores = np.array([0.9, 0.9, 0.8, 0.1])
    assert parse("precision:0.99").choose(truth, scores) == 0.8  # 2 of 3 flagged, the best there is


@pytest.mark.parametrize("text", ["precision", "precision:1.5", "cost:5", "cost:-1:2", "recall:.9", "f1:2", "cost:a:b"])
def test_a_rule_it_does_not_know_is_refused_naming_the_rules(text):
    with pytest.raises(ValueError, match="precision:P"):
        parse(text)


def test_nrt_train_chooses_the_threshold_for_a_precision_and_the_recipe_keeps_the_rule(tmp_path):
    recipe = Recipe(str(cancer_csv(tmp_path)), "diagnosis", None, "binary", threshold_for="precision:0.97")
    evaluation = train(tmp_path / "m", recipe)
    signature = Signature.from_dict(json.loads((tmp_path / "m" / SIGNATURE).read_text()))
    best_f1 = train(tmp_path / "f1", Recipe(str(cancer_csv(tmp_path)), "diagnosis", None, "binary"))

    assert "most recall at precision 0.97 or more" in evaluation.metrics["threshold_rule"]
    assert signature.recipe is not None and signature.recipe["threshold_for"] == "precision:0.97"
    # held out, the stricter rule flags fewer: at least the precision of the F1 threshold
    assert evaluation.metrics["threshold"] >= best_f1.metrics["threshold"]
    assert evaluation.metrics["precision"] >= best_f1.metrics["precision"]


def test_nrt_train_refuses_an_unknown_rule_before_it_trains(tmp_path, capsys):
    from nrt.cli import main

    with pytest.raises(SystemExit):
        main(["train", "m", "--threshold-for", "recall:0.9", "--state-dir", str(tmp_path)])
    assert "expected one of f1, precision:P" in capsys.readouterr().err
