"""End to end, in the order a user acts: a model deployed with `nrt deploy-model --local` or the
SageMaker Python SDK answers the moment either returns; a model that cannot load is Failed with
its load error; an idle model host is stopped and the next reading cold-starts it; a restart
with several endpoints starts no host and serves at once."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from benchmarks.stack import Stack, child_processes, nrt_up
from tests.e2e.test_any_model_stack import local, models, nrt
from tests.e2e.test_restart_stack import post
from training.examples import diabetes_csv, wine_csv
from training.inference import ARTIFACT
from training.package import package

# A pickle of a class in a module no one has: loading it is ModuleNotFoundError.
UNLOADABLE = b"cnrt_no_such_module\nThing\n)\x81."


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = tmp_path_factory.mktemp("data")
    wine_csv(folder)
    diabetes_csv(folder)
    return folder


@pytest.fixture(scope="module")
def stack(data: Path) -> Iterator[Stack]:
    with nrt_up("--flush-seconds", "1", "--model-idle-seconds", "3") as running:
        for name, csv, label in (("wine", "wine.csv", "cultivar"), ("diabetes", "diabetes.csv", "target")):
            trained = nrt(running, "train", name, "--csv", str(data / csv), "--label", label,
                          "--state-dir", str(running.state))  # fmt: skip
            assert trained.returncode == 0, trained.stderr
        yield running


def sagemaker(stack: Stack) -> Any:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    return session.client("sagemaker", endpoint_url=f"http://127.0.0.1:{stack.aws_port}")


def wine_reading(data: Path, model: str, i: int = 0) -> dict[str, Any]:
    row = pd.read_csv(data / "wine.csv").iloc[i]
    features = {k: float(v) for k, v in row.drop("cultivar").items()}
    return {"sensor": "cellar-1", "model": model, "timestamp": 1_780_000_000_000 + i, "features": features}


def model_hosts(stack: Stack) -> set[int]:
    return {pid for pid, module in child_processes(stack.process.pid).items() if module == "nrt.hosts.host"}


def until(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def test_deploy_model_returns_when_the_model_answers_and_a_reading_sent_at_once_is_answered(stack, data):
    deployed = nrt(stack, "deploy-model", "wine", *local(stack))

    status, answer = post(f"{stack.url}/predictions", wine_reading(data, "wine"))

    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "Creating" in deployed.stdout and "InService" in deployed.stdout
    assert status == 200, answer
    assert answer["prediction"] == "class_0"


def test_an_endpoint_made_with_the_sdk_answers_when_wait_for_status_returns(stack, data, tmp_path, monkeypatch):
    from sagemaker.core.resources import Endpoint, Model
    from sagemaker.core.shapes import ContainerDefinition

    from nrt.emulator.server import local_model_bucket, local_sagemaker_role
    from nrt.template import LocalContext

    ctx = LocalContext()
    url = f"http://127.0.0.1:{stack.aws_port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", url)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=ctx.region)
    bucket = local_model_bucket(ctx)
    archive = package(stack.state / "models" / "wine", tmp_path / "model.tar.gz")
    session.client("s3", endpoint_url=url).upload_file(str(archive), bucket, "sdkwine/model.tar.gz")
    Model.create(
        model_name="sdkwine",
        primary_container=ContainerDefinition(image="sklearn", model_data_url=f"s3://{bucket}/sdkwine/model.tar.gz"),
        execution_role_arn=local_sagemaker_role(ctx),
        session=session,
        region=ctx.region,
    )
    # The SDK's typed EndpointConfig sends MemorySizeInMb, which botocore refuses (aws/sagemaker-core#225).
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    variant = {"VariantName": "AllTraffic", "ModelName": "sdkwine", "ServerlessConfig": serverless}
    session.client("sagemaker", endpoint_url=url).create_endpoint_config(
        EndpointConfigName="sdkwine", ProductionVariants=[variant]
    )
    endpoint = Endpoint.create(
        endpoint_name="nrt-sdkwine", endpoint_config_name="sdkwine", session=session, region=ctx.region
    )
    endpoint.wait_for_status("InService", timeout=60)

    status, answer = post(f"{stack.url}/predictions", wine_reading(data, "sdkwine"))

    assert status == 200, answer
    assert answer["prediction"] == "class_0"


def deploy_unloadable(stack: Stack, tmp_path: Path) -> Any:
    """The endpoint nrt-broken, made as another tool would, with a model that cannot load; the SageMaker client."""
    broken = tmp_path / "broken"
    shutil.copytree(stack.state / "models" / "wine", broken)
    (broken / ARTIFACT).write_bytes(UNLOADABLE)
    archive = package(broken, tmp_path / "broken.tar.gz")
    sm = sagemaker(stack)
    from nrt.emulator.server import local_model_bucket, local_sagemaker_role
    from nrt.template import LocalContext

    ctx = LocalContext()
    s3 = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=ctx.region).client(
        "s3", endpoint_url=f"http://127.0.0.1:{stack.aws_port}"
    )
    s3.upload_file(str(archive), local_model_bucket(ctx), "broken/model.tar.gz")
    sm.create_model(
        ModelName="broken", ExecutionRoleArn=local_sagemaker_role(ctx),
        PrimaryContainer={"Image": "sklearn", "ModelDataUrl": f"s3://{local_model_bucket(ctx)}/broken/model.tar.gz"},
    )  # fmt: skip
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "broken",
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
    }
    sm.create_endpoint_config(EndpointConfigName="broken", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName="nrt-broken", EndpointConfigName="broken")
    return sm


def test_a_model_that_cannot_load_is_failed_with_its_load_error_and_no_host_keeps_starting(stack, data, tmp_path):
    sm = deploy_unloadable(stack, tmp_path)

    described = until(
        lambda: (d := sm.describe_endpoint(EndpointName="nrt-broken"))["EndpointStatus"] != "Creating" and d
    )
    status, answer = post(f"{stack.url}/predictions", wine_reading(data, "broken"))

    assert described["EndpointStatus"] == "Failed"
    assert "No module named 'nrt_no_such_module'" in described["FailureReason"]
    listed = models(stack)["broken"]
    assert (listed["status"], listed["available"]) == ("Failed", False)
    assert "nrt_no_such_module" in listed["reason"]
    assert status == 424 and "nrt_no_such_module" in answer["message"], answer


def test_an_idle_model_host_is_stopped_and_the_next_reading_cold_starts_it(stack, data):
    assert post(f"{stack.url}/predictions", wine_reading(data, "wine", 1))[0] == 200
    assert model_hosts(stack)

    until(lambda: not model_hosts(stack), 30)  # --model-idle-seconds 3: every host stops
    status, answer = post(f"{stack.url}/predictions", wine_reading(data, "wine", 2))

    assert status == 200, answer
    assert len(model_hosts(stack)) == 1
    assert sagemaker(stack).describe_endpoint(EndpointName="nrt-wine")["EndpointStatus"] == "InService"


def test_a_restart_with_several_endpoints_starts_no_host_and_the_first_reading_is_answered(tmp_path, data):
    names = [f"wine{i}" for i in range(4)]
    with nrt_up("--flush-seconds", "1", state=tmp_path) as first:
        trained = nrt(first, "train", "wine", "--csv", str(data / "wine.csv"), "--label", "cultivar",
                      "--state-dir", str(tmp_path))  # fmt: skip
        assert trained.returncode == 0, trained.stderr
        for name in names:
            done = nrt(first, "deploy-model", name, "--model-dir", str(tmp_path / "models" / "wine"), *local(first))
            assert done.returncode == 0, done.stdout + done.stderr
        sm = deploy_unloadable(first, tmp_path / "scratch")
        until(lambda: sm.describe_endpoint(EndpointName="nrt-broken")["EndpointStatus"] == "Failed")

    started = time.monotonic()
    with nrt_up("--flush-seconds", "1", state=tmp_path) as again:
        ready = time.monotonic() - started
        hosts_at_start = model_hosts(again)
        listed = models(again)
        status, answer = post(f"{again.url}/predictions", wine_reading(data, "wine2"))

    assert hosts_at_start == set()
    assert all((listed[n]["status"], listed[n]["available"]) == ("InService", True) for n in names), listed
    # A model that could not load is still Failed, with its reason, after the restart.
    assert listed["broken"]["status"] == "Failed" and "nrt_no_such_module" in listed["broken"]["reason"]
    assert status == 200, answer
    assert ready < 30, ready  # the banner: no host is started before it (they took seconds each)
