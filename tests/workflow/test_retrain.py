"""The real statemachine/retrain.asl.json on the embedded AWS: train -> gate -> release."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nrt.emulator.server import NOTIFICATIONS, RETRAIN_STATE_MACHINE, EmbeddedAws
from nrt.ops.deploy import Serverless, deploy_model
from nrt.ops.target import local_target
from tests.helpers import SKLEARN_IMAGE as IMAGE

BUCKET = "nrt-local-model-artifacts"


@pytest.fixture
def inbox(aws: EmbeddedAws) -> Any:
    """An SQS queue subscribed to the retraining notifications."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=aws.ctx.refs[NOTIFICATIONS], Protocol="sqs", Endpoint=arn)

    def messages() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    return messages


def deploy(aws: EmbeddedAws, name: str, model_dir: Path, serving_metric: str | None) -> str:
    """Deploy, then set the serving model's recorded metric value (None: no value recorded)."""
    target = local_target(aws.ctx, aws.prefix)
    sm = aws.client("sagemaker")
    deployment = deploy_model(
        sm, aws.client("s3"), name, model_dir, target, Serverless(3072, 7), IMAGE, log=lambda _: None, poll=0.01
    )
    arn = sm.describe_endpoint(EndpointName=deployment.endpoint)["EndpointArn"]
    if serving_metric is None:
        sm.delete_tags(ResourceArn=arn, TagKeys=["nrt:metric_value"])
    else:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "nrt:metric_value", "Value": serving_metric}])
    return deployment.endpoint


def retrain(aws: EmbeddedAws, model: str, timeout: float = 120, **options: Any) -> dict[str, Any]:
    """The workflow run for the model (options: the rest of its input, e.g. tune, contract_change), to its end."""
    sfn = aws.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=aws.ctx.refs[RETRAIN_STATE_MACHINE],
        name=uuid.uuid4().hex,
        input=json.dumps({"model": model, **options}),
    )["executionArn"]
    return finished(aws, arn, timeout)


def finished(aws: EmbeddedAws, arn: str, timeout: float = 120) -> dict[str, Any]:
    """The execution described once it is no longer running (or the timeout passed)."""
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


def artifact_file(aws: EmbeddedAws, variant: dict[str, Any], name: str) -> bytes:
    """One file of the model.tar.gz that a serving variant's model was created from."""
    model = aws.client("sagemaker").describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    bucket, _, key = model["ModelDataUrl"].removeprefix("s3://").partition("/")
    archive = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile(name)
        assert member is not None, name
        return member.read()


def result_output(result: dict[str, Any]) -> dict[str, Any]:
    output = json.loads(result["output"])
    return {"decision": output["decision"], "metric": output["gate"]["metric"]}


def serving(aws: EmbeddedAws, endpoint: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    sm = aws.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=endpoint)
    [variant] = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])["ProductionVariants"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"]}
    return described["EndpointConfigName"], variant, tags


def test_given_a_better_model_when_retrained_then_the_endpoint_serves_it_in_place(aws, model_dir, inbox):
    endpoint = deploy(aws, "retrain-up", model_dir, serving_metric="0.5")
    before, _, _ = serving(aws, endpoint)

    result = retrain(aws, "retrain-up")

    assert result["status"] == "SUCCEEDED", result
    config, variant, tags = serving(aws, endpoint)
    assert config != before and config.startswith("nrt-retrain-up-r")
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 7}  # kept from the serving one
    assert (tags["nrt:metric"], tags["nrt:metric_goal"]) == ("roc_auc", "max")
    assert float(tags["nrt:metric_value"]) >= 0.97
    assert result_output(result) == {"decision": "promoted", "metric": "roc_auc"}
    model = aws.client("sagemaker").describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    assert model["ModelDataUrl"] == f"s3://nrt-local-model-artifacts/training/{config}/output/model.tar.gz"
    bucket, _, key = model["ModelDataUrl"].removeprefix("s3://").partition("/")
    assert aws.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 1000
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: model retrained and deployed"
    assert f"{endpoint} now serves {config}: on the same " in note["Message"]
    gate = json.loads(result["output"])["gate"]
    assert int(gate["rows"]) > 0 and isinstance(gate["serving"], float)  # both scored on the same rows
    assert gate["serving"] != 0.5  # the serving model's score on them, not its recorded value


def test_an_endpoint_with_no_recorded_metric_is_judged_all_the_same_on_the_held_out_rows(aws, model_dir):
    endpoint = deploy(aws, "retrain-bare", model_dir, serving_metric=None)

    result = retrain(aws, "retrain-bare")

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["gate"]["serving"] > 0.9  # scored, not read from a tag
    assert serving(aws, endpoint)[0].startswith("nrt-retrain-bare-r")


def test_retraining_a_model_that_is_not_deployed_fails_saying_so(aws):
    result = retrain(aws, "never-deployed")

    assert (result["status"], result.get("error")) == ("FAILED", "NothingToRetrain")
    assert result["cause"] == (
        "No endpoint nrt-never-deployed is deployed: deploy it first (nrt deploy-model never-deployed)."
    )


def test_a_failed_training_job_notifies_and_changes_nothing(aws, model_dir, inbox, monkeypatch):
    endpoint = deploy(aws, "retrain-broken", model_dir, serving_metric="0.5")
    before = serving(aws, endpoint)

    def broken(job: str, hyperparameters: dict[str, str], channels: Any) -> tuple[bytes, str]:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(aws.wiring, "training_runner", broken)

    result = retrain(aws, "retrain-broken")

    assert (result["status"], result.get("error")) == ("FAILED", "TrainingFailed")
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retraining failed"
    assert "AlgorithmError: out of memory" in note["Message"]


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regression model trained here on a CSV with text categories and missing values."""
    from training.examples import shop_csv
    from training.train import Recipe, train

    folder: Path = tmp_path_factory.mktemp("regressor")
    train(folder / "model", Recipe(str(shop_csv(folder)), "spend", None, "regression"))
    return folder / "model"


@pytest.fixture(scope="module")
def small_regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The regressor's recipe trained on its first 40 rows only (the full CSV beside it)."""
    from training.examples import shop_csv
    from training.train import Recipe, train

    folder: Path = tmp_path_factory.mktemp("small-regressor")
    pd.read_csv(shop_csv(folder)).head(40).to_csv(folder / "shop-small.csv", index=False)
    train(folder / "model", Recipe(str(folder / "shop-small.csv"), "spend", None, "regression"))
    return folder / "model"


def test_a_regression_model_is_retrained_by_its_own_recipe_and_judged_by_lower_rmse(aws, small_regressor):
    endpoint = deploy(aws, "retrain-spend", small_regressor, serving_metric="1000")
    full = (small_regressor.parent / "shop-spend.csv").read_bytes()  # fresh data: the other 560 rows
    aws.client("s3").put_object(Bucket=BUCKET, Key="data/retrain-spend/more.csv", Body=full)

    result = retrain(aws, "retrain-spend")

    assert result["status"] == "SUCCEEDED", result
    assert result_output(result) == {"decision": "promoted", "metric": "rmse"}
    config, variant, tags = serving(aws, endpoint)
    assert config.startswith("nrt-retrain-spend-r")
    assert tags["nrt:kind"] == "regression" and float(tags["nrt:metric_value"]) < 1000
    signature = json.loads(artifact_file(aws, variant, "signature.json"))
    assert signature["kind"] == "regression"
    assert [f["name"] for f in signature["features"]] == ["channel", "basket", "member"]


def change_recipe(aws: EmbeddedAws, name: str, **changes: Any) -> None:
    """Edit the recipe in the model's retraining folder (data/<name>/signature.json), as a user may."""
    s3 = aws.client("s3")
    key = f"data/{name}/signature.json"
    signature = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    signature["recipe"].update(changes)
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(signature).encode())


def test_given_a_worse_candidate_whose_own_score_beats_the_recorded_value_then_the_gate_keeps_the_serving_model(
    aws, regressor, inbox
):
    # Recorded RMSE 1e6: the old gate, comparing the candidate's own split with it, would promote anything.
    endpoint = deploy(aws, "retrain-spend-kept", regressor, serving_metric="1000000")
    change_recipe(aws, "retrain-spend-kept", features=["member"])  # a weak recipe: one feature of three
    before = serving(aws, endpoint)

    result = retrain(aws, "retrain-spend-kept")

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    gate = output["gate"]
    assert (output["decision"], gate["metric"]) == ("rejected", "rmse")
    assert gate["candidate"] < 1_000_000  # its own score "beat" the stale tag
    # worse on the same rows: a higher RMSE, the whole interval of candidate - serving above 0
    assert gate["serving"] < gate["candidate"] and 0 < gate["low"] < gate["high"]
    assert gate["rows"] == "120"  # 20% of the recipe's 600 rows, both models scored on them
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retrained model rejected by the quality gate"
    assert "on the same 120 held-out rows the retrained nrt-retrain-spend-kept-r" in note["Message"]
    assert f"scored rmse {gate['candidate']}, the serving model {gate['serving']}" in note["Message"]


def test_given_a_hold_out_too_small_to_judge_then_the_gate_is_undecided_keeps_the_serving_model_and_says_why(
    aws, small_regressor, inbox
):
    endpoint = deploy(aws, "retrain-spend-few", small_regressor, serving_metric="1000")  # 40 rows in all
    before = serving(aws, endpoint)

    result = retrain(aws, "retrain-spend-few")

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["decision"] == "undecided"
    rows = int(output["gate"]["rows"])
    assert rows < 30 and output["gate"]["reason"] == (
        f"the hold-out has {rows} rows, fewer than the 30 the gate needs to judge"
    )
    assert serving(aws, endpoint) == before
    assert states_entered(aws, result)[-2:] == ["NotifyUndecided", "Undecided"]
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: quality gate undecided, the serving model stays"
    assert "fewer than the 30 the gate needs to judge" in note["Message"]


@pytest.fixture(scope="module")
def few_positives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binary model trained here on 200 synthetic readings, 10 of them positive."""
    from training.dataset import synthetic_table
    from training.train import Recipe, train

    folder: Path = tmp_path_factory.mktemp("few-positives")
    table = synthetic_table(3000, 11, 0.0)
    rows = table.x.assign(label=table.y)
    pd.concat([rows[rows.label == 1].head(10), rows[rows.label == 0].head(190)]).to_csv(folder / "few.csv", index=False)
    train(folder / "model", Recipe(str(folder / "few.csv"), "label", None, "binary"))
    return folder / "model"


def test_given_a_hold_out_with_too_few_positives_then_the_gate_is_undecided_naming_them(aws, few_positives, inbox):
    deploy(aws, "retrain-few-positives", few_positives, serving_metric="0.5")

    result = retrain(aws, "retrain-few-positives")

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert (output["decision"], output["gate"]["rows"], output["gate"]["minority"]) == ("undecided", "40", "2")
    reason = "the hold-out has 2 rows of its rarest label, fewer than the 5 the gate needs to judge"
    assert output["gate"]["reason"] == reason  # as training/gate.py words it
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: quality gate undecided, the serving model stays"


def test_given_a_serving_artifact_that_does_not_load_then_the_gate_is_undecided_and_the_serving_model_stays(
    aws, model_dir, inbox
):
    endpoint = deploy(aws, "retrain-unreadable", model_dir, serving_metric="0.5")
    _, variant, _ = serving(aws, endpoint)
    url = aws.client("sagemaker").describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]["ModelDataUrl"]
    bucket, _, key = url.removeprefix("s3://").partition("/")
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=b"not a model archive")
    before = serving(aws, endpoint)

    result = retrain(aws, "retrain-unreadable")

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["decision"] == "undecided" and output["gate"]["candidate"] > 0.9
    assert output["gate"]["reason"].startswith("the serving model could not be scored on the ")
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert "the quality gate could not judge the retrained" in note["Message"]


def test_given_a_serving_model_that_cannot_be_described_then_nothing_is_trained_and_it_says_so(aws, model_dir, inbox):
    endpoint = deploy(aws, "retrain-no-model", model_dir, serving_metric="0.5")
    _, variant, _ = serving(aws, endpoint)
    aws.client("sagemaker").delete_model(ModelName=variant["ModelName"])  # the endpoint serves on regardless

    result = retrain(aws, "retrain-no-model")

    assert (result["status"], result.get("error")) == ("FAILED", "NoServingArtifact")
    assert "Train" not in states_entered(aws, result)
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: serving model artifact not found"
    assert variant["ModelName"] in note["Message"]


def test_a_model_without_a_recipe_is_refused_and_never_replaced(aws, model_dir, inbox):
    endpoint = deploy(aws, "retrain-brought", model_dir, serving_metric="0.5")
    arn = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    aws.client("sagemaker").delete_tags(ResourceArn=arn, TagKeys=["nrt:recipe"])  # as a notebook model has none
    before = serving(aws, endpoint)

    result = retrain(aws, "retrain-brought")

    assert (result["status"], result.get("error")) == ("FAILED", "NoRecipe")
    assert "no retraining recipe" in result["cause"]
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: model has no retraining recipe"


def test_a_model_served_by_its_own_code_keeps_that_code_when_retrained(aws, regressor, tmp_path):
    import shutil

    from training import inference

    folder = tmp_path / "own-code"
    shutil.copytree(regressor, folder)
    (folder / "code").mkdir()
    own = "# the team's own serving code\n" + Path(inference.__file__).read_text()
    (folder / "code" / "inference.py").write_text(own)
    endpoint = deploy(aws, "retrain-own-code", folder, serving_metric="1000")

    result = retrain(aws, "retrain-own-code")

    assert result["status"] == "SUCCEEDED", result
    _, variant, _ = serving(aws, endpoint)
    assert artifact_file(aws, variant, "code/inference.py").decode() == own


def test_given_an_instance_backed_endpoint_when_retrained_then_the_new_version_keeps_its_instances(aws, model_dir):
    endpoint = deploy(aws, "retrain-inst", model_dir, serving_metric="0.5")
    sm = aws.client("sagemaker")
    _, variant, _ = serving(aws, endpoint)
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-instances",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": variant["ModelName"],
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
            }
        ],
    )
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-instances")

    result = retrain(aws, "retrain-inst")

    assert result["status"] == "SUCCEEDED", result
    config, variant, _ = serving(aws, endpoint)
    assert config.startswith("nrt-retrain-inst-r")
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 2)


def test_given_an_update_that_does_not_take_when_retrained_then_nothing_is_recorded_or_announced_as_served(
    aws, model_dir, inbox, monkeypatch
):
    from moto.sagemaker.models import SageMakerModelBackend

    endpoint = deploy(aws, "retrain-rollback", model_dir, serving_metric="0.5")
    before = serving(aws, endpoint)

    def rolled_back(self: Any, endpoint_name: str, endpoint_config_name: str) -> Any:
        # SageMaker rolls a failed update back: InService, on the old config.
        return self.endpoints[endpoint_name]

    monkeypatch.setattr(SageMakerModelBackend, "update_endpoint", rolled_back)

    result = retrain(aws, "retrain-rollback")

    assert (result["status"], result.get("error")) == ("FAILED", "UpdateFailed")
    assert serving(aws, endpoint) == before  # the old version and its metric stay
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retrained model not deployed"
    assert "the previous model still serves" in note["Message"]


def states_entered(aws: EmbeddedAws, result: dict[str, Any]) -> list[str]:
    history = aws.client("stepfunctions").get_execution_history(executionArn=result["executionArn"], maxResults=1000)
    return [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]


@pytest.mark.parametrize(
    ("status", "error", "subject"),
    [
        # SageMaker: "Both the rolling deployment and auto-rollback failed": old and new serve mixed.
        (
            "UpdateRollbackFailed",
            "UpdateRollbackFailed",
            "nrt-inference: retrained model half deployed, rollback failed",
        ),
        ("Deleting", "UpdateStopped", "nrt-inference: retrained model not deployed, endpoint left the update"),
        ("OutOfService", "UpdateFailed", "nrt-inference: retrained model not deployed"),
    ],
)
def test_given_an_update_that_ends_in_a_status_other_than_in_service_then_the_retraining_ends_at_once_and_says_so(
    aws, model_dir, inbox, monkeypatch, status, error, subject
):
    from moto.sagemaker.models import SageMakerModelBackend

    name = f"retrain-{status.lower()}"
    endpoint = deploy(aws, name, model_dir, serving_metric="0.5")
    before = serving(aws, endpoint)

    def ends_in(self: Any, endpoint_name: str, endpoint_config_name: str) -> Any:
        self.endpoints[endpoint_name].endpoint_status = status
        return self.endpoints[endpoint_name]

    monkeypatch.setattr(SageMakerModelBackend, "update_endpoint", ends_in)

    result = retrain(aws, name)

    assert (result["status"], result.get("error")) == ("FAILED", error)
    entered = states_entered(aws, result)
    assert entered.count("DescribeUpdatedEndpoint") == 1 and "WaitForUpdate" not in entered  # no polling on
    assert "RecordMetric" not in entered and serving(aws, endpoint)[2] == before[2]  # nothing recorded
    [note] = inbox()
    assert note["Subject"] == subject
    assert status in note["Message"] and endpoint in note["Message"]


def test_given_an_endpoint_that_vanishes_during_the_update_then_the_retraining_ends_at_once_and_says_so(
    aws, model_dir, inbox, monkeypatch
):
    from moto.sagemaker.models import SageMakerModelBackend

    deploy(aws, "retrain-vanished", model_dir, serving_metric="0.5")

    def deleted(self: Any, endpoint_name: str, endpoint_config_name: str) -> Any:
        return self.endpoints.pop(endpoint_name)

    monkeypatch.setattr(SageMakerModelBackend, "update_endpoint", deleted)

    result = retrain(aws, "retrain-vanished")

    assert (result["status"], result.get("error")) == ("FAILED", "UpdateUnknown")
    entered = states_entered(aws, result)
    assert entered.count("DescribeUpdatedEndpoint") == 1 and "RecordMetric" not in entered
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retrained model deployment unknown"
    assert "DescribeEndpoint failed" in note["Message"]
