"""The real statemachine/retrain.asl.json on the embedded AWS: train -> gate -> release."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from nrt import compat
from nrt.deploy import Serverless, deploy_model, local_target
from nrt.embedded import NOTIFICATIONS, RETRAIN_STATE_MACHINE, EmbeddedAws
from tests.conftest import SKLEARN_IMAGE as IMAGE


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


def deploy(aws: EmbeddedAws, name: str, model_dir: Path, serving_auc: str | None) -> str:
    target = local_target(aws.ctx, aws.prefix)
    sm = aws.client("sagemaker")
    deployment = deploy_model(
        sm, aws.client("s3"), name, model_dir, target, Serverless(3072, 7), IMAGE, log=lambda _: None, poll=0.01
    )
    arn = sm.describe_endpoint(EndpointName=deployment.endpoint)["EndpointArn"]
    if serving_auc is None:
        sm.delete_tags(ResourceArn=arn, TagKeys=["nrt:roc_auc"])
    else:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "nrt:roc_auc", "Value": serving_auc}])
    return deployment.endpoint


def retrain(aws: EmbeddedAws, model: str, timeout: float = 120) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=aws.ctx.refs[RETRAIN_STATE_MACHINE], name=uuid.uuid4().hex, input=json.dumps({"model": model})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


def serving(aws: EmbeddedAws, endpoint: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    sm = aws.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=endpoint)
    [variant] = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])["ProductionVariants"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"]}
    return described["EndpointConfigName"], variant, tags


def test_given_a_better_model_when_retrained_then_the_endpoint_serves_it_in_place(aws, model_dir, inbox):
    endpoint = deploy(aws, "retrain-up", model_dir, serving_auc="0.5")
    before, _, _ = serving(aws, endpoint)

    result = retrain(aws, "retrain-up")

    assert result["status"] == "SUCCEEDED", result
    config, variant, tags = serving(aws, endpoint)
    assert config != before and config.startswith("nrt-retrain-up-r")
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 7}  # kept from the serving one
    assert float(tags["nrt:roc_auc"]) >= 0.97
    model = aws.client("sagemaker").describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
    assert model["ModelDataUrl"] == f"s3://nrt-local-model-artifacts/training/{config}/output/model.tar.gz"
    bucket, _, key = model["ModelDataUrl"].removeprefix("s3://").partition("/")
    assert aws.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 1000
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: model retrained and deployed"
    assert f"{endpoint} now serves {config}" in note["Message"]


def test_given_a_worse_model_when_retrained_then_the_gate_keeps_the_serving_one_and_says_so(aws, model_dir, inbox):
    endpoint = deploy(aws, "retrain-gate", model_dir, serving_auc="1.0")
    before = serving(aws, endpoint)

    result = retrain(aws, "retrain-gate")

    assert result["status"] == "SUCCEEDED", result
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retrained model rejected by the quality gate"
    assert "below the serving 1.0" in note["Message"]


def test_an_endpoint_with_no_recorded_metric_takes_any_measured_model(aws, model_dir):
    endpoint = deploy(aws, "retrain-bare", model_dir, serving_auc=None)

    result = retrain(aws, "retrain-bare")

    assert result["status"] == "SUCCEEDED", result
    assert serving(aws, endpoint)[0].startswith("nrt-retrain-bare-r")


def test_retraining_a_model_that_is_not_deployed_fails_saying_so(aws):
    result = retrain(aws, "never-deployed")

    assert (result["status"], result.get("error")) == ("FAILED", "NothingToRetrain")


def test_a_failed_training_job_notifies_and_changes_nothing(aws, model_dir, inbox, monkeypatch):
    endpoint = deploy(aws, "retrain-broken", model_dir, serving_auc="0.5")
    before = serving(aws, endpoint)

    def broken(job: str, hyperparameters: dict[str, str]) -> tuple[bytes, str]:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(compat, "TRAINING_RUNNER", broken)

    result = retrain(aws, "retrain-broken")

    assert (result["status"], result.get("error")) == ("FAILED", "TrainingFailed")
    assert serving(aws, endpoint) == before
    [note] = inbox()
    assert note["Subject"] == "nrt-inference: retraining failed"
    assert "AlgorithmError: out of memory" in note["Message"]
