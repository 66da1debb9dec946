"""training/inference.py: the SageMaker serving contract the model host runs, for every kind."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from training import inference
from training.dataset import is_failure, synthetic
from training.examples import shop_csv, wine_csv
from training.train import Recipe, train


def load(directory: Path) -> inference.Model:
    return inference.model_fn(str(directory))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> inference.Model:
    directory: Path = tmp_path_factory.mktemp("demo")
    train(directory, Recipe("synthetic", "label", None, "binary", rows=4000))
    return load(directory)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> inference.Model:
    folder: Path = tmp_path_factory.mktemp("shop")
    train(folder / "m", Recipe(str(shop_csv(folder)), "spend", None, "regression"))
    return load(folder / "m")


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> inference.Model:
    folder: Path = tmp_path_factory.mktemp("wine")
    train(folder / "m", Recipe(str(wine_csv(folder)), "cultivar", None, "multiclass"))
    return load(folder / "m")


def call(model: inference.Model, payload: Any) -> tuple[int, Any]:
    reply = inference.transform_fn(model, json.dumps(payload), "application/json", "application/json")
    return reply.status, json.loads(reply.body)


def test_the_demo_models_failure_rule():
    assert is_failure(12, 87, 20)
    assert not is_failure(12, 60, 20)  # b - a not > 50
    assert not is_failure(10, 87, 40)  # |a - c| not < 20


def test_synthetic_labels_follow_the_rule_and_hold_both_classes():
    x, y = synthetic(2000, seed=1)
    assert x.min() >= 0 and x.max() <= 99
    assert all(bool(label) == is_failure(*row) for row, label in zip(x.tolist(), y.tolist(), strict=True))
    assert 0.05 < y.mean() < 0.5


def test_a_single_reading_is_scored_with_the_positive_probability_and_each_label(demo):
    status, answer = call(demo, {"data": [12, 87, 20]})

    [p] = answer["predictions"]
    assert status == 200
    assert (p["kind"], p["prediction"]) == ("binary", 1)
    assert 0.5 <= p["probability"] == p["probabilities"]["1"] <= 1
    assert p["probabilities"]["0"] + p["probabilities"]["1"] == pytest.approx(1, abs=1e-5)


def test_a_batch_mixing_positional_and_named_readings_is_scored_in_order(demo):
    readings = [
        {"sensor": "s", "timestamp": 1, "data": [12, 87, 20]},
        {"sensor": "s", "timestamp": 2, "features": {"a": 50, "b": 52, "c": 49}},
        [5, 90, 15],
    ]

    status, answer = call(demo, {"instances": readings})

    assert status == 200
    assert [p["prediction"] for p in answer["predictions"]] == [1, 0, 1]


def test_a_multiclass_answer_is_the_label_as_the_data_had_it_with_every_labels_probability(wine, tmp_path):
    import pandas as pd

    frame = pd.read_csv(wine_csv(tmp_path))
    rows = frame.drop(columns="cultivar").to_dict(orient="records")

    status, answer = call(wine, {"instances": [{"features": r} for r in rows]})

    predicted = [p["prediction"] for p in answer["predictions"]]
    assert status == 200
    assert set(answer["predictions"][0]["probabilities"]) == {"class_0", "class_1", "class_2"}
    assert all(p["probability"] == max(p["probabilities"].values()) for p in answer["predictions"])
    assert sum(a == b for a, b in zip(predicted, frame["cultivar"], strict=True)) / len(frame) > 0.95


def test_a_regression_answer_is_a_number_from_text_categories_and_missing_values(shop):
    status, answer = call(
        shop,
        {
            "instances": [
                {"features": {"channel": "store", "basket": 10, "member": "yes"}},
                {"features": {"channel": None, "basket": None, "member": "no"}},
            ]
        },
    )

    big, unknown = answer["predictions"]
    assert status == 200
    assert big["kind"] == "regression" and big["probability"] is None and big["probabilities"] is None
    assert 200 < big["prediction"] < 320  # 10 items at 20 in store, members pay 1.3x
    assert isinstance(unknown["prediction"], float)


@pytest.mark.parametrize(
    ("reading", "message"),
    [
        ({"channel": "store", "basket": "ten", "member": "no"}, "feature 'basket' must be a number, not \"ten\""),
        ({"channel": "mall", "basket": 1, "member": "no"}, '"mall" is not a known category (app, store, web)'),
        ({"channel": 3, "basket": 1, "member": "no"}, "feature 'channel' is a category: send text, not 3"),
        ({"channel": "web", "basket": 1}, "feature 'member' is missing; send null for a missing value"),
        ({"channel": "web", "basket": 1, "member": "no", "age": 3}, "unknown feature 'age'"),
        ({"channel": "web", "basket": 1, "member": None}, "feature 'member' is missing (null)"),
        ({"channel": "web", "basket": True, "member": "no"}, "'basket' must be a number, not true"),
    ],
)
def test_a_reading_that_does_not_fit_gets_its_own_error_naming_the_feature_and_rule(shop, reading, message):
    status, answer = call(
        shop, {"instances": [{"features": {"channel": "web", "basket": 1, "member": "no"}}, {"features": reading}]}
    )

    assert status == 200
    scored, refused = answer["predictions"]
    assert isinstance(scored["prediction"], float)
    assert (refused["kind"], refused["error"]) == ("regression", "InvalidReading")
    assert refused["message"].startswith("instances[1]: ")
    assert message in refused["message"]
    named = re.search(r"feature '([^']+)'", refused["message"])
    assert named and refused["feature"] == named[1]  # the structured field: the feature the message names


def test_when_no_listed_reading_fits_each_has_its_refusal_and_the_model_is_not_called(shop, monkeypatch):
    monkeypatch.setattr(inference, "_score", lambda *_: pytest.fail("nothing fits: nothing to score"))

    status, answer = call(shop, {"instances": [{"features": {"channel": "mall"}}, [1]]})

    assert status == 200
    first, second = answer["predictions"]
    assert (first["error"], first["feature"]) == ("InvalidReading", "basket")  # the first rule broken
    assert (second["error"], second["feature"]) == ("InvalidReading", "data")
    assert second["message"].startswith("instances[1] has 1 features")


def test_a_reading_sent_alone_that_does_not_fit_is_a_400_naming_the_feature(shop):
    status, answer = call(shop, {"features": {"channel": "mall", "basket": 1, "member": "no"}})

    assert status == 400
    assert answer["feature"] == "channel"
    assert "not a known category" in answer["message"]


@pytest.mark.parametrize(("value", "message"), [(10**400, "beyond a double's range"), (float("inf"), "must be finite")])
def test_a_number_no_double_holds_is_refused_not_a_server_error(demo, value, message):
    status, answer = call(demo, {"data": [1, 2, value]})

    assert status == 400
    assert message in answer["message"]
    assert answer["feature"] == demo.signature.feature_names[2]


def test_a_wrong_feature_count_is_a_400_naming_the_expected_count_and_names(demo):
    status, answer = call(demo, {"data": [1, 2]})

    assert status == 400
    assert "has 2 features; this model expects 3 (a, b, c)" in answer["message"]
    assert answer["feature"] == "data"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{}", "application/json"),
        ('{"instances": []}', "application/json"),
        ('{"instances": {"data": [1, 2, 3]}}', "application/json"),
        ('{"data": [1, "x", 3]}', "application/json"),
        ('{"data": [1, true, 3]}', "application/json"),
        ('{"features": [1, 2, 3]}', "application/json"),
        ("not json", "application/json"),
        ('{"data": [1, 2, 3]}', "text/csv"),
    ],
)
def test_malformed_requests_are_client_errors(demo, body, content_type):
    reply = inference.transform_fn(demo, body, content_type, "application/json")

    assert reply.status == 400
    assert json.loads(reply.body)["message"]


def test_in_sagemakers_container_a_refusal_is_the_toolkits_response_with_status_400(demo, monkeypatch, request):
    # The scikit-learn container answers a Response that transform_fn returns with its status;
    # an exception would be a 500 there, whatever it said.
    class Response:
        def __init__(self, response: str, status: int, mimetype: str) -> None:
            self.response, self.status, self.mimetype = response, status, mimetype

    worker = types.ModuleType("sagemaker_containers.beta.framework.worker")
    worker.Response = Response  # type: ignore[attr-defined]
    framework = types.ModuleType("sagemaker_containers.beta.framework")
    framework.worker = worker  # type: ignore[attr-defined]
    for name, module in {
        "sagemaker_containers": types.ModuleType("sagemaker_containers"),
        "sagemaker_containers.beta": types.ModuleType("sagemaker_containers.beta"),
        "sagemaker_containers.beta.framework": framework,
        "sagemaker_containers.beta.framework.worker": worker,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    inference._toolkit.cache_clear()  # looked up once per process: look again, inside the "container"
    request.addfinalizer(inference._toolkit.cache_clear)

    refused = inference.transform_fn(demo, '{"data": [1, 2]}', "application/json", "application/json")
    scored = inference.transform_fn(demo, '{"instances": [[12, 87, 20]]}', "application/json", "application/json")

    assert (type(refused), refused.status, refused.mimetype) == (Response, 400, "application/json")
    assert "expects 3" in json.loads(refused.response)["message"]
    assert (scored.status, json.loads(scored.response)["predictions"][0]["prediction"]) == (200, 1)


def test_the_module_defines_transform_fn_and_none_of_the_functions_the_container_refuses_beside_it():
    # sagemaker_sklearn_container.serving refuses transform_fn together with input_fn, predict_fn or output_fn.
    assert callable(inference.model_fn) and callable(inference.transform_fn)
    assert not any(hasattr(inference, name) for name in ("input_fn", "predict_fn", "output_fn"))


def test_a_model_saved_before_signatures_is_described_by_the_estimator_itself(tmp_path, demo):
    import joblib

    joblib.dump(demo.estimator, tmp_path / inference.ARTIFACT)

    model = load(tmp_path)

    assert (model.signature.kind, model.signature.feature_names, model.signature.labels) == (
        "binary",
        ["x0", "x1", "x2"],
        [0, 1],
    )
    assert call(model, {"data": [12, 87, 20]})[1]["predictions"][0]["prediction"] == 1


def test_the_model_host_and_local_api_send_small_replies_without_nagle_delay(demo):
    import socket

    from nrt.hosts.host import make_handler, refused
    from nrt.http11 import Server

    # Both serve with nrt/http11.py: each answer goes out in one write, on a socket with
    # Nagle's algorithm off (a kept-alive peer's delayed ACK would otherwise stall it ~40 ms).
    server = Server(("127.0.0.1", 0), make_handler(demo), refused).start()
    try:
        with socket.create_connection(server.server_address, timeout=10) as client:
            client.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n")  # kept alive
            assert client.recv(1000).startswith(b"HTTP/1.1 200")
            connections = list(server._connections)
            assert connections
            assert all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in connections)
    finally:
        server.shutdown()


def test_a_model_host_scores_on_one_openmp_thread_unless_the_user_chose_otherwise():
    from nrt.hosts.supervisor import model_host_env

    assert model_host_env({"PATH": "/usr/bin"}) == {"PATH": "/usr/bin", "OMP_NUM_THREADS": "1"}
    assert model_host_env({"OMP_NUM_THREADS": "4"}) == {"OMP_NUM_THREADS": "4"}


def test_a_classifier_of_many_labels_answers_its_most_likely_labels_only_so_a_reply_is_bounded():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    estimator = LogisticRegression(max_iter=300).fit(x, y)
    model = inference.Model(estimator, inference.signature_from_estimator(estimator))

    status, answer = call(model, {"instances": [list(map(float, row)) for row in x[:20]]})

    assert status == 200
    for row, p in zip(estimator.predict_proba(x[:20]), answer["predictions"], strict=True):
        assert len(p["probabilities"]) == inference.TOP_LABELS < len(estimator.classes_)
        top = sorted(range(len(row)), key=lambda i: -row[i])[: inference.TOP_LABELS]
        assert set(p["probabilities"]) == {str(estimator.classes_[i]) for i in top}
        assert p["probability"] == max(p["probabilities"].values()) == p["probabilities"][str(p["prediction"])]


def test_a_refusal_naming_many_long_features_is_cut_so_a_batch_of_them_stays_small():
    names = [f"feature_with_a_rather_long_name_{i:03d}" for i in range(40)]
    signature = inference.Signature(kind="regression", features=[inference.Feature(n) for n in names])
    model = inference.Model(estimator=None, signature=signature)

    status, answer = call(model, {"instances": [[1.0]] * 100})

    assert status == 200
    assert all(len(p["message"]) <= inference.MAX_MESSAGE and p["feature"] == "data" for p in answer["predictions"])


def test_an_unknown_feature_name_as_long_as_the_body_allows_is_named_cut_in_the_refusal(shop):
    name = "東" * 20_000

    status, answer = call(shop, {"instances": [{"features": {"channel": "web", "basket": 1, "member": "no", name: 1}}]})

    [refused] = answer["predictions"]
    assert status == 200 and len(refused["feature"]) == inference.MAX_NAME and refused["feature"].startswith("東")
    assert len(refused["message"]) <= inference.MAX_MESSAGE
