"""An unseen category: refused (the default) or scored as missing, by the model's signature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import pytest

from training import inference
from training.examples import shop_csv, shop_frame
from training.package import package, unpack
from training.train import Recipe, features_of, train


def call(model: inference.Model, payload: Any) -> tuple[int, Any]:
    reply = inference.transform_fn(model, json.dumps(payload), "application/json", "application/json")
    return reply.status, json.loads(reply.body)


def reading(channel: Any, member: Any = "yes") -> dict[str, Any]:
    return {"features": {"channel": channel, "basket": 4.0, "member": member}}


@pytest.fixture(scope="module")
def shop_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shop_csv(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def missing(shop_folder: Path) -> Path:
    """The shop's orders (channel has gaps, member none), trained with unknown categories as missing."""
    directory = shop_folder.parent / "missing"
    train(directory, Recipe(str(shop_folder), "spend", None, "regression", unknown_categories="missing"))
    return directory


@pytest.fixture(scope="module")
def refuse(shop_folder: Path) -> inference.Model:
    directory = shop_folder.parent / "refuse"
    train(directory, Recipe(str(shop_folder), "spend", None, "regression"))
    return inference.model_fn(str(directory))


def test_given_missing_an_unseen_category_is_scored_as_the_same_reading_with_null(missing):
    model = inference.model_fn(str(missing))

    status, answer = call(model, {"instances": [reading("kiosk"), reading(None), reading("web")]})

    assert status == 200
    unseen, null, web = (p["prediction"] for p in answer["predictions"])
    assert unseen == null != web


def test_given_missing_an_unseen_category_of_a_feature_that_takes_no_missing_value_is_a_400_saying_why(missing):
    model = inference.model_fn(str(missing))

    status, answer = call(model, reading("web", member="maybe"))

    assert status == 400
    assert answer["feature"] == "member"
    assert answer["message"].endswith(
        '"maybe" is not a known category; unknown categories are scored as missing, '
        "but this feature takes no missing value (known: no, yes)"
    )


def test_by_default_an_unseen_category_is_a_400_naming_the_feature_and_a_batch_keeps_its_refusal_in_place(refuse):
    assert refuse.signature.unknown_categories == "refuse"

    alone, refused = call(refuse, reading("kiosk"))
    listed, batch = call(refuse, {"instances": [reading("kiosk"), reading("web")]})

    assert (alone, refused["feature"]) == (400, "channel")
    assert refused["message"].endswith('"kiosk" is not a known category (app, store, web)')
    assert listed == 200
    assert (batch["predictions"][0]["error"], batch["predictions"][0]["feature"]) == ("InvalidReading", "channel")
    assert batch["predictions"][1]["prediction"] > 0


def test_the_policy_round_trips_through_signature_json_and_the_recipe_that_retrains_it(missing):
    raw = json.loads((missing / inference.SIGNATURE).read_text())

    assert raw["unknown_categories"] == "missing"
    assert raw["recipe"]["unknown_categories"] == "missing"
    assert inference.Signature.from_dict(raw).to_json() == (missing / inference.SIGNATURE).read_text()
    assert Recipe(**raw["recipe"]).unknown_categories == "missing"


def test_a_signature_file_written_before_the_policy_loads_as_refuse_and_an_unknown_policy_is_refused(missing):
    raw = json.loads((missing / inference.SIGNATURE).read_text())
    del raw["unknown_categories"]

    assert inference.Signature.from_dict(raw).unknown_categories == "refuse"
    with pytest.raises(ValueError, match="unknown_categories must be one of refuse, missing, not 'ignore'"):
        inference.Signature.from_dict({**raw, "unknown_categories": "ignore"})


def test_deploy_model_writes_the_policy_into_a_one_hot_pipelines_package_and_it_is_served(tmp_path, capsys):
    """A pipeline of other tools (OneHotEncoder(handle_unknown="ignore")), deployed with --unknown-categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from nrt.cli.models import set_unknown_categories

    frame = shop_frame()
    x = frame[["channel", "basket", "member"]]
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["channel", "member"]),
            ("numbers", SimpleImputer(), ["basket"]),
        ]
    )
    pipeline = Pipeline([("encode", encode), ("model", Ridge())]).fit(x, frame["spend"])
    model_dir = tmp_path / "onehot"
    model_dir.mkdir()
    joblib.dump(pipeline, model_dir / inference.ARTIFACT)
    signature = inference.signature_from_estimator(pipeline, "regression")
    signature = inference.Signature(**{**signature.__dict__, "features": features_of(x)})
    (model_dir / inference.SIGNATURE).write_text(signature.to_json())

    set_unknown_categories(model_dir, "missing")
    served = inference.model_fn(str(unpack(package(model_dir, tmp_path / "model.tar.gz"), tmp_path / "served")))

    assert served.signature.unknown_categories == "missing"
    assert "refused still on member: the model takes no missing value there" in capsys.readouterr().out
    status, answer = call(served, {"instances": [reading("kiosk"), reading(None), reading("kiosk", "maybe")]})
    assert status == 200
    unseen, null, refused = answer["predictions"]
    assert unseen["prediction"] == null["prediction"]
    assert refused["feature"] == "member"


def test_the_unknown_categories_flags_parse_for_train_and_deploy_model():
    from nrt.cli import build_parser
    from nrt.cli.models import training_recipe

    parser = build_parser()
    trained = parser.parse_args(
        [
            "train",
            "shop",
            "--csv",
            "o.csv",
            "--label",
            "spend",
            "--task",
            "regression",
            "--unknown-categories",
            "missing",
        ]
    )
    deployed = parser.parse_args(["deploy-model", "shop", "--unknown-categories", "refuse"])

    assert training_recipe(trained).unknown_categories == "missing"
    assert parser.parse_args(["train", "shop"]).unknown_categories == "refuse"
    assert deployed.unknown_categories == "refuse"
    assert parser.parse_args(["deploy-model", "shop"]).unknown_categories is None  # keep the signature's
    with pytest.raises(SystemExit):
        parser.parse_args(["deploy-model", "shop", "--unknown-categories", "ignore"])


def test_deploy_model_refuses_to_rewrite_a_signature_it_cannot_read_naming_the_file(tmp_path):
    from nrt.cli.models import set_unknown_categories
    from nrt.ops.target import DeployError

    (tmp_path / inference.SIGNATURE).write_text(json.dumps({"kind": "ranking", "features": []}))

    with pytest.raises(DeployError, match=r"signature\.json is not a signature this code reads: signature kind"):
        set_unknown_categories(tmp_path, "missing")
