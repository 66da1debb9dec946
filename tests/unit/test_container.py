"""training/container.py: a model directory served as SageMaker's scikit-learn container serves it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import joblib
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from training import container

CHAINED = """
import json, os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def row(reading):
    if isinstance(reading, list):
        return reading
    return reading["data"] if "data" in reading else list(reading["features"].values())

def input_fn(body, content_type):
    return [row(r) for r in json.loads(body)["instances"]]

def predict_fn(rows, model):
    return model.predict(rows)

def output_fn(values, accept):
    answers = [{"kind": "regression", "prediction": float(v), "probability": None, "probabilities": None}
               for v in values]
    return json.dumps({"predictions": answers}), "application/json"
"""


def model_dir(tmp_path: Path, code: str | None) -> Path:
    x, y = load_diabetes(return_X_y=True)
    joblib.dump(Ridge().fit(x, y), tmp_path / "model.joblib")
    if code is not None:
        (tmp_path / "code").mkdir()
        (tmp_path / "code" / "inference.py").write_text(textwrap.dedent(code))
    return tmp_path


def test_your_input_predict_and_output_functions_answer_the_request(tmp_path):
    served = container.load(model_dir(tmp_path, CHAINED))

    reply = container.answer(served, json.dumps({"instances": [{"data": [0.0] * 10}]}), "application/json", "")

    assert reply.status == 200
    [answer] = json.loads(reply.body)["predictions"]
    assert answer["kind"] == "regression" and 100 < answer["prediction"] < 200


def test_the_containers_defaults_stand_in_for_functions_left_out(tmp_path):
    only_model = "import joblib, os\ndef model_fn(d):\n    return joblib.load(os.path.join(d, 'model.joblib'))\n"
    served = container.load(model_dir(tmp_path, only_model))

    reply = container.answer(served, json.dumps([[0.0] * 10]), "application/json", "application/json")

    assert reply.status == 200 and len(json.loads(reply.body)) == 1


def test_an_exception_in_your_code_answers_500_as_the_container_does(tmp_path):
    broken = CHAINED.replace("return model.predict(rows)", "raise ValueError('no such column')")
    served = container.load(model_dir(tmp_path, broken))

    reply = container.answer(served, json.dumps({"instances": [[0.0] * 10]}), "application/json", "")

    assert reply.status == 500
    assert json.loads(reply.body)["message"] == "no such column"


def test_transform_fn_beside_input_fn_is_refused_as_the_container_refuses_it(tmp_path):
    both = CHAINED + "\ndef transform_fn(model, body, content_type, accept):\n    return body\n"

    with pytest.raises(container.ServingCodeError, match="defines transform_fn and input_fn"):
        container.load(model_dir(tmp_path, both))


def test_a_directory_without_code_is_served_by_this_projects_inference_module(tmp_path):
    from training import inference

    assert container.serving_module(model_dir(tmp_path, None)) is inference


def test_this_projects_serving_code_shipped_in_a_package_is_served_from_there(tmp_path):
    from training.package import package, unpack
    from training.train import Recipe, train

    train(tmp_path / "trained", Recipe("synthetic", "label", None, "binary", rows=1000))
    served_dir = unpack(package(tmp_path / "trained", tmp_path / "model.tar.gz"), tmp_path / "opt-ml-model")

    served = container.load(served_dir)
    reply = container.answer(served, json.dumps({"instances": [[12, 87, 20], [1, 2]]}), "application/json", "")

    assert served.module.__file__ == str(served_dir / "code" / "inference.py")
    scored, refused = json.loads(reply.body)["predictions"]
    assert reply.status == 200 and scored["prediction"] == 1
    assert refused["error"] == "InvalidReading" and "expects 3" in refused["message"]
