"""The real statemachine/retrain.asl.json retraining from production data: the lake's scored
readings joined with their outcomes (athena/training_set.sql on the embedded Athena), prepared
and split by time, the newest readings held out for the gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from nrt.emulator.server import EmbeddedAws
from nrt.lake.athena import LakeQueries
from nrt.lake.quality import TAGGED, Trained, trained
from nrt.ops.deploy import serving_quality_of
from tests.helpers.labelled_lakes import labelled_lake
from tests.workflow import test_retrain
from tests.workflow.test_retrain import deploy, retrain, serving
from tests.workflow.test_retrain_prepare import artifact

inbox = test_retrain.inbox  # the fixture: an SQS queue subscribed to the retraining notifications

BUCKET = "nrt-local-model-artifacts"


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binary model trained here on load_breast_cancer (a CSV recipe): the rule before it changed."""
    from training.train import Recipe, train

    folder: Path = tmp_path_factory.mktemp("cancer")
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [f"f{i}" for i in range(data.shape[1] - 1)] + ["diagnosis"]
    data.to_csv(folder / "cancer.csv", index=False)
    train(folder / "model", Recipe(str(folder / "cancer.csv"), "diagnosis", None, "binary"))
    return folder / "model"


@pytest.fixture
def lake(aws: EmbeddedAws, tmp_path: Path) -> Iterator[Path]:
    """An empty lake that the embedded Athena reads, for this test only."""
    before = aws.wiring.athena
    aws.wiring.athena = LakeQueries(tmp_path / "lake")
    yield tmp_path / "lake"
    aws.wiring.athena = before


def readings() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    data = load_breast_cancer()
    return data.data, data.target


def output(result: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(result["output"])
    return found


def test_given_outcomes_after_the_rule_changed_when_retrained_from_the_lake_then_the_better_model_is_promoted(
    aws, cancer, lake, inbox
):
    endpoint = deploy(aws, "lake-up", cancer, serving_metric="0.99")
    x, y = readings()
    labelled_lake(lake, "lake-up", x, 1 - y)  # what really happened is now the opposite of the old rule

    result = retrain(aws, "lake-up", source="lake", min_labels=200)

    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    found = output(result)
    assert found["decision"] == "promoted"
    assert float(found["gate"]["candidate"]) > 0.9 > float(found["gate"]["serving"])
    config, variant, _ = serving(aws, endpoint)
    manifest = json.loads(
        aws.client("s3").get_object(Bucket=BUCKET, Key=f"prepared/{config}/manifest.json")["Body"].read()
    )
    assert manifest["lake"]["labelled_readings"] == len(y)
    assert manifest["lake"]["label_balance"] == {"0": int(y.sum()), "1": int((1 - y).sum())}
    assert manifest["rows_out"]["holdout"] == round(len(y) * 0.2)
    assert manifest["date_range"]["column"] == "reading_time"
    assert manifest["sources"][0]["file"].startswith("s3://") and manifest["sources"][0]["file"].endswith(".csv")
    files = artifact(aws, variant)
    card = json.loads(files["model_card.json"])
    assert card["preparation"]["data_set"] == manifest["lake"]
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: model retrained and deployed"


def served_record(aws: EmbeddedAws, endpoint: str) -> tuple[dict[str, Any], str, str]:
    """What serving reads of the model besides its endpoint: the outcomes' contract
    (signatures/<endpoint>.json) and the metric_value and quality_value tags."""
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=f"signatures/{endpoint}.json")["Body"].read()
    tags = serving(aws, endpoint)[2]
    return json.loads(body), tags["nrt:metric_value"], tags["nrt:quality_value"]


def stale_record(aws: EmbeddedAws, endpoint: str) -> None:
    """A served record that no retrained model would write: one label, made-up values."""
    stale = json.dumps({"kind": "binary", "labels": ["0"]}).encode()
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"signatures/{endpoint}.json", Body=stale)
    arn = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    aws.client("sagemaker").add_tags(ResourceArn=arn, Tags=[{"Key": "nrt:quality_value", "Value": "0.123"}])


def test_given_a_promotion_then_the_outcomes_contract_and_both_training_values_are_the_new_models(
    aws, cancer, lake, inbox
):
    endpoint = deploy(aws, "lake-record", cancer, serving_metric="0.99")
    stale_record(aws, endpoint)
    x, y = readings()
    labelled_lake(lake, "lake-record", x, 1 - y)

    result = retrain(aws, "lake-record", source="lake", min_labels=200)

    assert output(result)["decision"] == "promoted", (result.get("error"), result.get("cause"))
    contract, metric_value, quality_value = served_record(aws, endpoint)
    assert contract == {"kind": "binary", "labels": ["0", "1"]}
    evaluation = json.loads(artifact(aws, serving(aws, endpoint)[1])["evaluation.json"])
    assert float(quality_value) == pytest.approx(evaluation["metrics"]["f1"])
    assert float(metric_value) == pytest.approx(float(output(result)["gate"]["candidate"]))
    assert float(quality_value) > 0.9
    # the local side (nrt quality, the health line, nrt status) reads the same tag as the monitor does
    tagged = serving_quality_of(aws.client("sagemaker"), aws.prefix)
    assert trained(Path("no-models"), "lake-record", tagged) == Trained({"f1": float(quality_value)}, TAGGED)


def test_given_a_promotion_whose_signature_cannot_be_written_then_the_run_says_so_and_fails(
    aws, cancer, lake, inbox, monkeypatch
):
    from moto.s3.exceptions import MissingKey
    from moto.s3.models import S3Backend

    endpoint = deploy(aws, "lake-unrecorded", cancer, serving_metric="0.99")
    stale_record(aws, endpoint)
    before = serving(aws, endpoint)[0]
    x, y = readings()
    labelled_lake(lake, "lake-unrecorded", x, 1 - y)
    copy_object = S3Backend.copy_object

    def signature_lost(
        self: Any, src_key: Any, dest_bucket_name: str, dest_key_name: str, *args: Any, **kw: Any
    ) -> Any:
        if dest_key_name == f"signatures/{endpoint}.json":  # the contract went missing under the copy
            raise MissingKey(key=dest_key_name)
        return copy_object(self, src_key, dest_bucket_name, dest_key_name, *args, **kw)

    monkeypatch.setattr(S3Backend, "copy_object", signature_lost)

    result = retrain(aws, "lake-unrecorded", source="lake", min_labels=200)

    assert result["status"] == "FAILED" and result["error"] == "PromotedRecordsNotRefreshed", result
    config, _, tags = serving(aws, endpoint)
    assert config != before  # the new model serves: the run failed after the switch
    assert tags["nrt:quality_value"] == "0.123"  # nothing after the signature was written either
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retrained model deployed, its records not refreshed"
    assert note["Message"].startswith(f"{endpoint} now serves {config}, but its outcome signature")
    assert "S3.NoSuchKeyException" in note["Message"] and "nrt deploy-model writes both" in note["Message"]


def test_given_fewer_labelled_readings_than_asked_when_retrained_from_the_lake_then_the_gate_refuses_before_training(
    aws, cancer, lake, inbox
):
    endpoint = deploy(aws, "lake-few", cancer, serving_metric="0.99")
    before = serving(aws, endpoint)
    x, y = readings()
    labelled_lake(lake, "lake-few", x[:50], y[:50])

    result = retrain(aws, "lake-few", source="lake", min_labels=200)

    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    found = output(result)
    assert found["decision"] == "undecided"
    assert "too few labelled readings: 50 in the lake, the gate needs at least 200" in found["gate"]["reason"]
    assert "candidate" not in found  # nothing was trained
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: quality gate undecided, the serving model stays"
    assert "too few labelled readings" in note["Message"]


def test_given_older_outcomes_that_are_noise_when_retrained_from_the_lake_then_the_worse_candidate_is_rejected(
    aws, cancer, lake, inbox
):
    endpoint = deploy(aws, "lake-worse", cancer, serving_metric="0.99")
    stale_record(aws, endpoint)
    before, recorded = serving(aws, endpoint), served_record(aws, endpoint)
    x, y = readings()
    noisy = y.copy()
    old = len(y) - round(len(y) * 0.2)
    noisy[:old] = np.random.default_rng(3).integers(0, 2, old)  # the past's outcomes were recorded wrongly
    labelled_lake(lake, "lake-worse", x, noisy)

    result = retrain(aws, "lake-worse", source="lake", min_labels=200)

    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    found = output(result)
    assert found["decision"] == "rejected"
    assert float(found["gate"]["candidate"]) < float(found["gate"]["serving"])
    assert serving(aws, endpoint) == before
    assert served_record(aws, endpoint) == recorded  # a refusal rewrites nothing serving reads
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retrained model rejected by the quality gate"


def test_given_a_lake_athena_cannot_read_when_retrained_from_the_lake_then_it_fails_saying_why(
    aws, cancer, lake, inbox
):
    endpoint = deploy(aws, "lake-broken", cancer, serving_metric="0.99")
    before = serving(aws, endpoint)
    x, y = readings()
    labelled_lake(lake, "lake-broken", x[:40], y[:40])
    broken = next(lake.glob("outcomes/dt=*/hour=*"))
    (broken / "damaged.parquet").write_bytes(b"not parquet")

    result = retrain(aws, "lake-broken", source="lake")

    assert (result["status"], result.get("error")) == ("FAILED", "LakeQueryFailed")
    cause = json.loads(result["cause"])
    assert cause["QueryExecution"]["Status"]["State"] == "FAILED"
    assert "damaged.parquet" in cause["QueryExecution"]["Status"]["StateChangeReason"]
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retraining failed"
    assert "from the lake failed" in note["Message"]


def test_a_recipe_retraining_by_default_runs_no_query(aws, cancer, lake):
    deploy(aws, "lake-default", cancer, serving_metric="0.99")

    result = retrain(aws, "lake-default", min_labels=200)

    history = aws.client("stepfunctions").get_execution_history(executionArn=result["executionArn"], maxResults=1000)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]
    assert "RecipeData" in entered and "QueryLake" not in entered
    assert output(result)["options"]["merged"]["source"] == "recipe"


@pytest.fixture(scope="module")
def sited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binary model trained on load_breast_cancer with the clinic of each reading, a category
    of three (north, south, east)."""
    from training.train import Recipe, train

    folder: Path = tmp_path_factory.mktemp("sited")
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [f"f{i}" for i in range(data.shape[1] - 1)] + ["diagnosis"]
    data.insert(0, "clinic", [("north", "south", "east")[i % 3] for i in range(len(data))])
    data.to_csv(folder / "sited.csv", index=False)
    train(folder / "model", Recipe(str(folder / "sited.csv"), "diagnosis", None, "binary"))
    return folder / "model"


def test_given_production_data_without_a_served_category_when_retrained_from_the_lake_then_its_loss_is_refused(
    aws, sited, lake, inbox
):
    from tests.helpers.labelled_lakes import START_MS, outcome, prediction, write_lake

    endpoint = deploy(aws, "lake-contract", sited, serving_metric="0.99")
    before, recorded = serving(aws, endpoint), served_record(aws, endpoint)
    x, y = readings()
    predictions, outcomes = [], []
    for i, (row, truth) in enumerate(zip(x, y, strict=True)):  # east sends nothing any more
        ts, given = START_MS + i * 3_600_000, {f"f{j}": round(float(v), 6) for j, v in enumerate(row)}
        predictions.append(
            prediction("lake-contract", f"s{i % 7}:{ts}", ts, {**given, "clinic": ("north", "south")[i % 2]})
        )
        outcomes.append(outcome("lake-contract", f"s{i % 7}:{ts}", ts, label=str(truth)))
    write_lake(lake, predictions, outcomes, "sited")

    result = retrain(aws, "lake-contract", source="lake", min_labels=200)

    assert (result["status"], result.get("error")) == ("FAILED", "ContractRefused"), result.get("cause")
    assert result["cause"].startswith("preparation refused: the candidate's contract differs from the served one: ")
    assert "column 'clinic': category 'east' is served and unknown to the candidate" in result["cause"]
    assert (serving(aws, endpoint), served_record(aws, endpoint)) == (before, recorded)
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retraining refused a change of the model's contract"
    assert "nrt retrain lake-contract --from-lake --contract-change" in note["Message"]
