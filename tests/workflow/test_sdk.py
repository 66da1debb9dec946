"""An endpoint made by other tools, with the SageMaker Python SDK's resource classes, in the
scikit-learn container's format (model.tar.gz with the model and code/inference.py) and named
with the prefix: producers use it unchanged through the real workflow."""

from __future__ import annotations

import itertools
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import joblib
import pytest

from nrt.hosts.artifacts import materialise, model_source
from nrt.hosts.supervisor import start_model_host
from nrt.ops.target import local_target
from tests.helpers import SKLEARN_IMAGE
from tests.workflow.test_inference_workflow import reading, run
from training import inference
from training.examples import shop_frame
from training.package import package

STAMPS = itertools.count(1767225600000)


def sdk_endpoint(aws, archive: Path, name: str, monkeypatch) -> None:
    """model.tar.gz uploaded, then a model, a serverless endpoint config and the endpoint nrt-NAME
    made with the SageMaker Python SDK's resource classes, waited InService."""
    from sagemaker.core.resources import Endpoint, EndpointConfig, Model
    from sagemaker.core.shapes import ContainerDefinition

    # The SDK builds its own boto3 client; the standard variable points it at the embedded AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", aws.url)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=aws.ctx.region)
    target = local_target(aws.ctx, aws.prefix)
    aws.client("s3").upload_file(str(archive), target.bucket, f"sdk/{name}/model.tar.gz")

    Model.create(
        model_name=name,
        primary_container=ContainerDefinition(
            image=SKLEARN_IMAGE,
            model_data_url=f"s3://{target.bucket}/sdk/{name}/model.tar.gz",
            environment={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        ),
        execution_role_arn=target.role_arn,
        session=session,
        region=aws.ctx.region,
    )
    # The SDK's typed EndpointConfig sends a serverless config as "MemorySizeInMb", which
    # botocore refuses (aws/sagemaker-core#225, open): that one call goes through boto3.
    session.client("sagemaker", endpoint_url=aws.url).create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    assert EndpointConfig.get(name, session=session, region=aws.ctx.region).production_variants
    endpoint = Endpoint.create(
        endpoint_name=f"nrt-{name}", endpoint_config_name=name, session=session, region=aws.ctx.region
    )
    endpoint.wait_for_status("InService", timeout=30)


@contextmanager
def hosted(aws, endpoint: str, tmp_path: Path) -> Iterator[None]:
    """What nrt up does to start an endpoint's host: unpack the artifact, start a host, route it."""
    version, url = model_source(aws.client("sagemaker"), endpoint)
    directory = materialise(aws, url, tmp_path / version)
    assert directory is not None
    host = start_model_host(directory, endpoint, version)
    aws.wiring.model_hosts.route(endpoint, host.url)
    try:
        yield
    finally:
        aws.wiring.model_hosts.withdraw(endpoint)
        host.process.terminate()
        host.process.wait(timeout=10)


def test_an_endpoint_made_with_the_sagemaker_sdk_serves_producers_unchanged(aws, model_dir, tmp_path, monkeypatch):
    sdk_endpoint(aws, package(model_dir, tmp_path / "model.tar.gz"), "sdk-pump", monkeypatch)

    with hosted(aws, "nrt-sdk-pump", tmp_path):
        answer = run(aws, reading("sdk-pump"))

    assert answer.status == 200, answer.body
    assert (answer.body["endpoint"], answer.body["kind"], answer.body["prediction"]) == ("nrt-sdk-pump", "binary", 1)


def test_a_pipeline_with_categories_deployed_by_the_sdk_without_signature_json_scores_a_text_reading(
    aws, tmp_path, monkeypatch
):
    """model.tar.gz as an SDK user builds it: model.joblib and code/inference.py, no signature.json.
    Its signature is derived from the pipeline, so a category is taken as text, not refused as a number."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = shop_frame()
    encode = ColumnTransformer(
        [
            ("text", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["channel", "member"]),
            ("numbers", SimpleImputer(), ["basket"]),
        ]
    )
    pipeline = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(
        frame[["channel", "basket", "member"]], frame["big"]
    )
    joblib.dump(pipeline, tmp_path / "model.joblib")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "model.joblib", arcname="model.joblib")
        tar.add(inference.__file__, arcname="code/inference.py")
    sdk_endpoint(aws, archive, "sdk-shop", monkeypatch)
    features = {"channel": "store", "basket": 10, "member": "yes"}

    with hosted(aws, "nrt-sdk-shop", tmp_path):
        answer = run(aws, {"sensor": "till-1", "model": "sdk-shop", "timestamp": next(STAMPS), "features": features})
        unseen = run(
            aws,
            {
                "sensor": "till-1",
                "model": "sdk-shop",
                "timestamp": next(STAMPS),
                "features": {**features, "channel": "kiosk"},
            },
        )

    assert answer.status == 200, answer.body
    assert (answer.body["kind"], answer.body["prediction"]) == ("binary", "yes")
    assert set(answer.body["probabilities"]) == {"no", "yes"}
    assert unseen.status == 400, unseen.body  # OneHotEncoder() raises on a category it never saw: refused, named
    assert "'channel': \"kiosk\" is not a known category (app, store, web)" in unseen.body["message"]


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the embedded AWS on 127.0.0.1: no credentials or config from this machine.
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def test_a_model_that_does_not_say_what_it_takes_fails_to_load_naming_signature_json(tmp_path):
    """No signature.json, and a step of its own that takes text: the host's load error (the
    endpoint's FailureReason) names the file and shows its form, rather than serve wrong types."""
    import operator

    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    from nrt.hosts.supervisor import ModelHostFailed

    frame = shop_frame().dropna()
    text = make_pipeline(FunctionTransformer(operator.methodcaller("map", str.upper)), OneHotEncoder())
    encode = ColumnTransformer([("text", text, ["channel", "member"])], remainder="passthrough")
    pipeline = make_pipeline(encode, LogisticRegression(max_iter=1000))
    joblib.dump(pipeline.fit(frame[["channel", "basket", "member"]], frame["big"]), tmp_path / "model.joblib")

    with pytest.raises(ModelHostFailed) as failed:
        start_model_host(tmp_path, "nrt-own-step")

    assert "cannot tell what this model takes: a reading built from what it says of itself fails" in str(failed.value)
    assert "Put a signature.json beside model.joblib" in str(failed.value)
    assert '{"kind": "binary", "features": [{"name": "channel", "type": "number"' in str(failed.value)
