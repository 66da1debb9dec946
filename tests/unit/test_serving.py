"""training/inference.py: the SageMaker serving contract the model host runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import inference
from training.dataset import is_failure, synthetic
from training.train import train


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("model")
    train(directory, rows=4000)
    return inference.model_fn(str(directory))


def test_the_seeds_rule():
    assert is_failure(12, 87, 20)
    assert not is_failure(12, 60, 20)  # b - a not > 50
    assert not is_failure(10, 87, 40)  # |a - c| not < 20


def test_synthetic_labels_follow_the_rule_and_hold_both_classes():
    x, y = synthetic(2000, seed=1)
    assert x.min() >= 0 and x.max() <= 99
    assert all(bool(label) == is_failure(*row) for row, label in zip(x.tolist(), y.tolist(), strict=True))
    assert 0.05 < y.mean() < 0.5


def test_training_reaches_a_roc_auc_of_at_least_097(tmp_path):
    evaluation = train(tmp_path, rows=6000)
    assert evaluation.roc_auc >= 0.97
    assert json.loads((tmp_path / "evaluation.json").read_text())["roc_auc"] == evaluation.roc_auc


def test_a_single_reading_is_scored(model):
    rows = inference.input_fn(json.dumps({"data": [12, 87, 20]}))
    [p] = inference.predict_fn(rows, model)
    assert p["prediction"] == 1
    assert 0.5 <= p["probability"] <= 1


def test_a_batch_is_scored_in_order(model):
    rows = inference.input_fn(json.dumps({"instances": [[12, 87, 20], [50, 52, 49], [5, 90, 15]]}))
    out = json.loads(inference.output_fn(inference.predict_fn(rows, model)))
    assert [p["prediction"] for p in out["predictions"]] == [1, 0, 1]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{}", "application/json"),
        ('{"instances": []}', "application/json"),
        ('{"instances": [[1, "x", 3]]}', "application/json"),
        ('{"instances": [[1, true, 3]]}', "application/json"),
        ("not json", "application/json"),
        ('{"data": [1, 2, 3]}', "text/csv"),
    ],
)
def test_malformed_requests_are_client_errors(body, content_type):
    with pytest.raises(inference.InvalidInput) as caught:
        inference.input_fn(body, content_type)
    assert caught.value.status_code == 400


def test_a_wrong_feature_count_is_a_client_error_naming_the_expected_count(model):
    with pytest.raises(inference.InvalidInput, match="expects 3"):
        inference.predict_fn([[1, 2]], model)


def test_the_model_host_and_local_api_send_small_replies_without_nagle_delay(model):
    from nrt.api import make_handler as api_handler
    from nrt.modelhost import make_handler as host_handler

    assert host_handler(model).disable_nagle_algorithm is True
    assert api_handler({}, None).disable_nagle_algorithm is True


def test_a_model_host_scores_on_one_openmp_thread_unless_the_user_chose_otherwise():
    from nrt.runtime import model_host_env

    assert model_host_env({"PATH": "/usr/bin"}) == {"PATH": "/usr/bin", "OMP_NUM_THREADS": "1"}
    assert model_host_env({"OMP_NUM_THREADS": "4"}) == {"OMP_NUM_THREADS": "4"}
