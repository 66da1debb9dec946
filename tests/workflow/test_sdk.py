"""An endpoint made by other tools, with the SageMaker Python SDK's resource classes, in the
scikit-learn container's format (model.tar.gz with the model and code/inference.py) and named
with the prefix: producers use it unchanged through the real workflow."""

from __future__ import annotations

import boto3
import pytest

from nrt.hosts.artifacts import materialise, model_source
from nrt.hosts.supervisor import start_model_host
from nrt.ops.target import local_target
from tests.helpers import SKLEARN_IMAGE
from tests.workflow.test_inference_workflow import reading, run
from training.package import package


def test_an_endpoint_made_with_the_sagemaker_sdk_serves_producers_unchanged(aws, model_dir, tmp_path, monkeypatch):
    from sagemaker.core.resources import Endpoint, EndpointConfig, Model
    from sagemaker.core.shapes import ContainerDefinition

    # The SDK builds its own boto3 client; the standard variable points it at the embedded AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", aws.url)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=aws.ctx.region)
    target = local_target(aws.ctx, aws.prefix)
    aws.client("s3").upload_file(str(package(model_dir, tmp_path / "model.tar.gz")), target.bucket, "sdk/model.tar.gz")

    Model.create(
        model_name="sdk-pump",
        primary_container=ContainerDefinition(
            image=SKLEARN_IMAGE,
            model_data_url=f"s3://{target.bucket}/sdk/model.tar.gz",
            environment={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        ),
        execution_role_arn=target.role_arn,
        session=session,
        region=aws.ctx.region,
    )
    # The SDK's typed EndpointConfig sends a serverless config as "MemorySizeInMb", which
    # botocore refuses (aws/sagemaker-core#225, open): that one call goes through boto3.
    session.client("sagemaker", endpoint_url=aws.url).create_endpoint_config(
        EndpointConfigName="sdk-pump",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "sdk-pump",
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    assert EndpointConfig.get("sdk-pump", session=session, region=aws.ctx.region).production_variants
    endpoint = Endpoint.create(
        endpoint_name="nrt-sdk-pump", endpoint_config_name="sdk-pump", session=session, region=aws.ctx.region
    )
    endpoint.wait_for_status("InService", timeout=30)

    # What nrt up does to start an endpoint's host: unpack the artifact, start a host, route it.
    version, url = model_source(aws.client("sagemaker"), "nrt-sdk-pump")
    directory = materialise(aws, url, tmp_path / version)
    assert directory is not None
    host = start_model_host(directory, "nrt-sdk-pump", version)
    aws.wiring.model_hosts.route("nrt-sdk-pump", host.url)
    try:
        answer = run(aws, reading("sdk-pump"))
    finally:
        aws.wiring.model_hosts.withdraw("nrt-sdk-pump")
        host.process.terminate()
        host.process.wait(timeout=10)

    assert answer.status == 200, answer.body
    assert (answer.body["endpoint"], answer.body["kind"], answer.body["prediction"]) == ("nrt-sdk-pump", "binary", 1)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the embedded AWS on 127.0.0.1: no credentials or config from this machine.
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
