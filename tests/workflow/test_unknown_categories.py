"""The unknown-categories policy end to end on the embedded AWS: set at deploy, tagged on the
endpoint for GET /models, and honoured by the real serving code behind the real workflow."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from functions.list_models.models import list_models
from nrt.cli.models import set_unknown_categories
from tests.workflow.test_any_model import served
from tests.workflow.test_deploy import deploy
from tests.workflow.test_inference_workflow import run
from training import inference
from training.examples import shop_csv
from training.train import Recipe, train

_ts = itertools.count(1_760_000_000_000, 1000)


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's orders (channel has gaps), trained with the default policy: refuse."""
    folder: Path = tmp_path_factory.mktemp("unknown")
    train(folder / "shop", Recipe(str(shop_csv(folder)), "spend", None, "regression"))
    return folder / "shop"


def reading(model: str, channel: Any) -> dict[str, Any]:
    features = {"channel": channel, "basket": 4.0, "member": "yes"}
    return {"sensor": "unknown-1", "model": model, "timestamp": next(_ts), "features": features}


def test_deployed_with_missing_get_models_shows_the_policy_and_the_workflow_scores_an_unseen_category_as_null(
    aws, model_host, shop_dir
):
    deploy(aws, "shop-refuse", shop_dir)
    set_unknown_categories(shop_dir, "missing")  # nrt deploy-model --unknown-categories missing
    deploy(aws, "shop-missing", shop_dir)

    listed = {m["model"]: m for m in list_models(aws.client("sagemaker"), aws.prefix)}
    assert listed["shop-refuse"]["unknown_categories"] == "refuse"
    assert listed["shop-missing"]["unknown_categories"] == "missing"

    model_host("shop-missing-served", served(inference.model_fn(str(shop_dir))))
    unseen, null = run(aws, reading("shop-missing-served", "kiosk")), run(aws, reading("shop-missing-served", None))
    assert unseen.status == null.status == 200
    assert unseen.body["prediction"] == null.body["prediction"]


def test_with_the_default_policy_the_workflow_answers_an_unseen_category_400_naming_the_feature(
    aws, model_host, shop_dir, tmp_path
):
    model = inference.model_fn(str(shop_dir))
    refusing = inference.Model(
        model.estimator, inference.Signature(**{**model.signature.__dict__, "unknown_categories": "refuse"})
    )
    model_host("shop-default", served(refusing))

    answer = run(aws, reading("shop-default", "kiosk"))

    assert answer.status == 400
    assert (answer.body["error"], answer.body["feature"]) == ("InvalidReading", "channel")
