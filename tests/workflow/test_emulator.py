"""nrt/emulator/: one test per way moto 5.2.5 differs from AWS, on the live embedded AWS. How each
speed-up does its job is pinned apart, in test_emulator_speed.py."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nrt import emulator
from tests.helpers.emulator import INVOKE, make_machine, sync


def test_only_the_pinned_moto_is_patched():
    emulator.check_moto_version(emulator.MOTO_VERSION)
    with pytest.raises(emulator.CompatError, match="pin moto=="):
        emulator.check_moto_version("5.3.0")


def test_tasks_call_the_embedded_aws_on_its_own_port(aws):
    assert os.environ["MOTO_PORT"] == str(aws.port)


def test_the_sagemakerruntime_sdk_integration_runs_and_its_blob_output_is_a_string(aws, model_host):
    model_host("compat-blob")
    arn = make_machine(aws, {"Invoke": INVOKE}, "Invoke")

    result = sync(aws, arn, {"endpoint": "nrt-compat-blob", "body": '{"instances": [[12, 87, 20]]}'})

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert isinstance(output["Body"], str)
    assert json.loads(output["Body"])["predictions"][0]["probability"] == 0.97


def test_sdk_errors_are_named_service_dot_code_exception_as_aws_names_them(aws):
    assert emulator.sdk_tasks.sdk_error_name("sagemakerruntime", "ModelError") == "SageMakerRuntime.ModelErrorException"
    assert (
        emulator.sdk_tasks.sdk_error_name("sagemakerruntime", "ThrottlingException")
        == "SageMakerRuntime.ThrottlingException"
    )
    arn = make_machine(aws, {"Invoke": INVOKE}, "Invoke")

    result = sync(aws, arn, {"endpoint": "nrt-absent", "body": "{}"})

    assert result["status"] == "FAILED"
    assert result["error"] == "SageMakerRuntime.ValidationErrorException"
    assert "Endpoint nrt-absent" in result["cause"]


def test_start_sync_execution_is_served_over_the_api_like_aws(aws):
    arn = make_machine(aws, {"Echo": {"Type": "Pass", "End": True}}, "Echo")

    result = aws.client("stepfunctions").start_sync_execution(stateMachineArn=arn, input='{"a": 1}')

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"a": 1}


def test_a_failed_sync_execution_reports_error_and_cause(aws):
    arn = make_machine(aws, {"No": {"Type": "Fail", "Error": "Nope", "Cause": "because"}}, "No")

    result = sync(aws, arn, {})

    assert (result["status"], result["error"], result["cause"]) == ("FAILED", "Nope", "because")
    assert "output" not in result


def test_the_execution_start_time_in_the_context_object_is_an_iso_string(aws):
    arn = make_machine(
        aws,
        {"When": {"Type": "Pass", "Parameters": {"t.$": "$$.Execution.StartTime"}, "End": True}},
        "When",
    )

    started = json.loads(sync(aws, arn, {})["output"])["t"]

    assert isinstance(started, str)
    assert started.endswith("Z") and "T" in started


def test_the_state_entered_time_in_the_context_object_is_formatted_as_aws_formats_it(aws):
    arn = make_machine(
        aws,
        {"When": {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime", "n.$": "$$.State.Name"}, "End": True}},
        "When",
    )

    entered = json.loads(sync(aws, arn, {})["output"])

    assert entered["n"] == "When"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entered["t"]), entered["t"]


def test_invoke_endpoint_on_an_unknown_endpoint_is_a_validation_error(aws):
    with pytest.raises(ClientError) as caught:
        aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="nrt-ghost", Body=b"{}")
    assert caught.value.response["Error"]["Code"] == "ValidationError"


def test_invoke_endpoint_reaches_the_model_host(aws, model_host):
    host = model_host("compat-route")

    resp = aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="nrt-compat-route",
        Body=b'{"instances": [[50, 52, 49]]}',
        ContentType="application/json",
    )

    assert json.loads(resp["Body"].read())["predictions"][0]["probability"] == 0.02
    assert host.requests == [{"instances": [[50, 52, 49]]}]


def test_a_model_host_error_is_a_model_error_carrying_the_original_status(aws, model_host):
    model_host("compat-4xx", lambda _: (400, {"message": "bad shape"}))

    with pytest.raises(ClientError) as caught:
        aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="nrt-compat-4xx", Body=b"{}")

    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "Received client error (400)" in error["Error"]["Message"]


def test_an_endpoint_without_a_running_host_is_not_ready(aws, model_host):
    model_host("compat-cold")
    aws.wiring.model_hosts.withdraw("nrt-compat-cold")

    with pytest.raises(ClientError) as caught:
        aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="nrt-compat-cold", Body=b"{}")
    assert caught.value.response["Error"]["Code"] == "ModelNotReadyException"


class Starts:
    """A scripted wiring.host_start: each start waits until released, then answers a URL or fails."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.failures: dict[str, str] = {}  # model name -> why it cannot load
        self.calls: list[tuple[str, str]] = []
        self.url = ""

    def __call__(self, endpoint: str, model: str, url: str) -> str:
        self.calls.append((endpoint, model))
        assert self.release.wait(30)
        if model in self.failures:
            raise RuntimeError(self.failures[model])
        return self.url


@pytest.fixture
def starts(aws: Any) -> Iterator[Starts]:
    scripted = Starts()
    aws.wiring.host_start = scripted
    yield scripted
    scripted.release.set()
    aws.wiring.host_start = None


def status_becomes(sm: Any, endpoint: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while not check(described := sm.describe_endpoint(EndpointName=endpoint)):
        assert time.monotonic() < deadline, described
        time.sleep(0.02)
    return described


def make_configs(aws: Any, name: str, versions: tuple[str, ...]) -> None:
    sm = aws.client("sagemaker")
    for version in versions:
        sm.create_model(
            ModelName=f"{name}-{version}",
            ExecutionRoleArn=f"arn:aws:iam::{aws.ctx.account}:role/test",
            PrimaryContainer={"Image": "local/image", "ModelDataUrl": f"s3://bucket/{version}.tar.gz"},
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-{version}",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{name}-{version}",
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                }
            ],
        )


def test_create_endpoint_is_creating_until_its_model_loads_and_failed_if_it_cannot(aws, starts):
    sm = aws.client("sagemaker")
    make_configs(aws, "compat-new", ("good", "bad"))
    starts.failures["compat-new-bad"] = "ModuleNotFoundError: No module named 'xgboost'"

    sm.create_endpoint(EndpointName="compat-new-good", EndpointConfigName="compat-new-good")
    sm.create_endpoint(EndpointName="compat-new-bad", EndpointConfigName="compat-new-bad")

    assert sm.describe_endpoint(EndpointName="compat-new-good")["EndpointStatus"] == "Creating"
    assert {("compat-new-good", "compat-new-good"), ("compat-new-bad", "compat-new-bad")} <= set(starts.calls)
    starts.release.set()
    status_becomes(sm, "compat-new-good", lambda d: d["EndpointStatus"] == "InService")
    failed = status_becomes(sm, "compat-new-bad", lambda d: d["EndpointStatus"] == "Failed")
    assert failed["FailureReason"] == "ModuleNotFoundError: No module named 'xgboost'"


def test_an_update_is_updating_until_the_new_model_loads_and_one_that_cannot_is_rolled_back(aws, starts):
    sm = aws.client("sagemaker")
    make_configs(aws, "compat-roll", ("v1", "v2", "v3"))
    starts.failures["compat-roll-v3"] = "UnpicklingError: invalid load key"
    sm.create_endpoint(EndpointName="compat-roll", EndpointConfigName="compat-roll-v1")
    starts.release.set()
    status_becomes(sm, "compat-roll", lambda d: d["EndpointStatus"] == "InService")
    starts.release.clear()

    sm.update_endpoint(EndpointName="compat-roll", EndpointConfigName="compat-roll-v2")
    updating = sm.describe_endpoint(EndpointName="compat-roll")
    assert (updating["EndpointStatus"], updating["EndpointConfigName"]) == ("Updating", "compat-roll-v1")
    starts.release.set()
    status_becomes(sm, "compat-roll", lambda d: d["EndpointConfigName"] == "compat-roll-v2")

    sm.update_endpoint(EndpointName="compat-roll", EndpointConfigName="compat-roll-v3")
    rolled_back = status_becomes(sm, "compat-roll", lambda d: "FailureReason" in d)
    assert rolled_back["EndpointStatus"] == "InService"
    assert rolled_back["EndpointConfigName"] == "compat-roll-v2"
    assert rolled_back["FailureReason"] == "UnpicklingError: invalid load key"


def test_an_invocation_with_no_host_running_starts_one_and_waits_for_it(aws, model_host, monkeypatch):
    host = model_host("compat-scaled")
    aws.wiring.model_hosts.withdraw("nrt-compat-scaled")  # scaled to zero
    starts = Starts()
    starts.url = host.url

    def routed(endpoint: str, model: str, url: str) -> str:
        answer = Starts.__call__(starts, endpoint, model, url)
        aws.wiring.model_hosts.route(endpoint, answer)
        return answer

    monkeypatch.setattr(aws.wiring, "host_start", routed)
    starts.release.set()
    runtime = aws.client("sagemaker-runtime")

    resp = runtime.invoke_endpoint(EndpointName="nrt-compat-scaled", Body=b'{"instances": [[50, 52, 49]]}')
    runtime.invoke_endpoint(EndpointName="nrt-compat-scaled", Body=b'{"instances": [[50, 52, 49]]}')

    assert json.loads(resp["Body"].read())["predictions"][0]["probability"] == 0.02
    assert [endpoint for endpoint, _ in starts.calls] == ["nrt-compat-scaled"]  # the second found it routed


def test_update_endpoint_switches_an_endpoint_to_a_new_config_in_place(aws):
    sm = aws.client("sagemaker")
    for version in ("v1", "v2"):
        sm.create_model(
            ModelName=f"compat-upd-{version}",
            ExecutionRoleArn=f"arn:aws:iam::{aws.ctx.account}:role/test",
            PrimaryContainer={"Image": "local/image", "ModelDataUrl": f"s3://bucket/{version}.tar.gz"},
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"compat-upd-{version}",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"compat-upd-{version}",
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                }
            ],
        )
    arn = sm.create_endpoint(EndpointName="compat-upd", EndpointConfigName="compat-upd-v1")["EndpointArn"]

    assert sm.update_endpoint(EndpointName="compat-upd", EndpointConfigName="compat-upd-v2")["EndpointArn"] == arn

    described = sm.describe_endpoint(EndpointName="compat-upd")
    assert (described["EndpointConfigName"], described["EndpointStatus"]) == ("compat-upd-v2", "InService")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.update_endpoint(EndpointName="compat-missing", EndpointConfigName="compat-upd-v2")
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sm.update_endpoint(EndpointName="compat-upd", EndpointConfigName="compat-missing")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.items[0].name", "a"),
        ("$.items[1]", {"name": "b", "n": 2}),
        ("$.items[*].name", ["a", "b"]),
        ("$.items[?(@.n > 1)].name", ["b"]),
        ("$.items[0:1].n", [1]),
        ("$.missing[*]", []),
    ],
)
def test_definite_jsonpaths_select_a_value_and_indefinite_ones_a_list(aws, path, expected):
    arn = make_machine(aws, {"Pick": {"Type": "Pass", "Parameters": {"got.$": path}, "End": True}}, "Pick")

    result = sync(aws, arn, {"items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}], "missing": []})

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"got": expected}


def test_add_tags_replaces_the_value_of_an_existing_key(aws):
    sm = aws.client("sagemaker")
    sm.create_model(
        ModelName="compat-tags",
        ExecutionRoleArn=f"arn:aws:iam::{aws.ctx.account}:role/test",
        PrimaryContainer={"Image": "local/image"},
        Tags=[{"Key": "k", "Value": "1"}, {"Key": "other", "Value": "x"}],
    )
    arn = sm.describe_model(ModelName="compat-tags")["ModelArn"]

    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "k", "Value": "2"}])

    assert sorted((t["Key"], t["Value"]) for t in sm.list_tags(ResourceArn=arn)["Tags"]) == [("k", "2"), ("other", "x")]


def test_describe_model_leaves_out_a_vpc_config_and_containers_that_were_never_given(aws):
    sm = aws.client("sagemaker")
    role = f"arn:aws:iam::{aws.ctx.account}:role/test"
    sm.create_model(ModelName="compat-novpc", ExecutionRoleArn=role, PrimaryContainer={"Image": "local/image"})
    vpc = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    sm.create_model(ModelName="compat-vpc", ExecutionRoleArn=role, PrimaryContainer={"Image": "i"}, VpcConfig=vpc)

    plain = sm.describe_model(ModelName="compat-novpc")
    with_vpc = sm.describe_model(ModelName="compat-vpc")

    assert "VpcConfig" not in plain and "Containers" not in plain
    assert with_vpc["VpcConfig"] == vpc


TRAIN = {
    "Type": "Task",
    "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
    "Parameters": {
        "TrainingJobName.$": "$.job",
        "AlgorithmSpecification": {
            "TrainingImage": "local/image",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:roc_auc", "Regex": "validation:roc_auc=([0-9.]+)"}],
        },
        "HyperParameters": {"rows": "1500"},
        "RoleArn": "arn:aws:iam::123456789012:role/test",
        "OutputDataConfig": {"S3OutputPath": "s3://nrt-local-model-artifacts/training/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    },
    "End": True,
}


def test_a_training_job_sync_runs_the_job_and_answers_its_description_with_its_metrics(aws):
    arn = make_machine(aws, {"Train": TRAIN}, "Train")
    job = f"compat-train-{uuid.uuid4().hex[:6]}"

    result = sync(aws, arn, {"job": job})

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["TrainingJobStatus"] == "Completed"
    [metric] = output["FinalMetricDataList"]
    assert metric["MetricName"] == "validation:roc_auc" and metric["Value"] >= 0.97
    assert isinstance(output["CreationTime"], int)  # epoch milliseconds, as Step Functions shows them
    key = f"training/{job}/output/model.tar.gz"
    assert output["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://nrt-local-model-artifacts/{key}"
    assert aws.client("s3").head_object(Bucket="nrt-local-model-artifacts", Key=key)["ContentLength"] > 1000


def test_a_training_job_with_no_local_runner_fails_with_its_reason(aws, monkeypatch):
    monkeypatch.setattr(aws.wiring, "training_runner", None)
    arn = make_machine(aws, {"Train": TRAIN}, "Train")

    result = sync(aws, arn, {"job": f"compat-norunner-{uuid.uuid4().hex[:6]}"})

    assert (result["status"], result["error"]) == ("FAILED", "States.TaskFailed")
    assert "no local training runner" in result["cause"]


def test_the_optimised_sagemaker_integration_forwards_request_response_actions(aws):
    name = f"compat-opt-{uuid.uuid4().hex[:6]}"
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sagemaker:createModel",
        "Parameters": {
            "ModelName": name,
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/test",
            "PrimaryContainer": {"Image": "local/image"},
        },
        "End": True,
    }
    arn = make_machine(aws, {"Create": state}, "Create")

    result = sync(aws, arn, {})

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["ModelArn"].endswith(f":model/{name}")


def test_a_sagemaker_action_aws_does_not_integrate_is_refused_at_creation(aws):
    state = {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:listModels", "End": True}

    with pytest.raises(ClientError, match="not recognized"):
        make_machine(aws, {"List": state}, "List")


def test_metrics_are_read_from_the_log_as_sagemaker_reads_them():
    definitions = [{"Name": "auc", "Regex": "auc=([0-9.]+)"}, {"Name": "loss", "Regex": "loss=([0-9.]+)"}]

    assert emulator.sagemaker_jobs.metrics_from_log(definitions, "auc=0.5\nauc=0.9\n") == [
        {"MetricName": "auc", "Value": 0.9}
    ]


def test_concurrent_conditional_writes_of_one_key_let_exactly_one_through(aws):
    from concurrent.futures import ThreadPoolExecutor

    ddb = aws.client("dynamodb")
    table = aws.ctx.refs["PredictionsTable"]
    key = {"sensor": {"S": f"race-{uuid.uuid4().hex[:6]}"}, "timestamp_endpoint": {"S": "1#nrt-x"}}

    def write(n: int) -> bool:
        try:
            ddb.put_item(
                TableName=table,
                Item={**key, "timestamp": {"N": "1"}, "writer": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(sensor)",
            )
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        won = list(pool.map(write, range(64)))

    assert sum(won) == 1
    stored = ddb.get_item(TableName=table, Key=key)["Item"]
    assert won.index(True) == int(stored["writer"]["N"])


def test_a_state_machine_runs_as_the_type_it_was_created_with(aws):
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(aws.ctx.account, aws.ctx.region)
    express = make_machine(aws, {"Done": {"Type": "Succeed"}}, "Done")
    standard = make_machine(aws, {"Done": {"Type": "Succeed"}}, "Done", machine_type=None)

    assert backend.describe_state_machine(express).sm_type == "EXPRESS"
    assert backend.describe_state_machine(standard).sm_type == "STANDARD"
    assert backend.describe_state_machine(aws.state_machine_arn).sm_type == "EXPRESS"


def test_start_sync_execution_refuses_a_standard_state_machine_as_aws_does(aws):
    sfn = aws.client("stepfunctions")
    standard = make_machine(aws, {"Done": {"Type": "Succeed"}}, "Done", machine_type="STANDARD")

    with pytest.raises(ClientError) as refused:
        sfn.start_sync_execution(stateMachineArn=standard, input="{}")
    assert refused.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_express_executions_record_no_history_and_standard_ones_still_do(aws, monkeypatch):
    import time

    from moto.stepfunctions.parser.asl.eval.environment import Environment

    environments: list[Any] = []
    init = Environment.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        environments.append(self)

    monkeypatch.setattr(Environment, "__init__", recording_init)
    states = {"Add": {"Type": "Pass", "Result": 1, "ResultPath": "$.one", "Next": "Done"}, "Done": {"Type": "Succeed"}}

    assert json.loads(sync(aws, make_machine(aws, states, "Add"), {})["output"]) == {"one": 1}
    assert environments[0].event_manager.get_event_history() == []

    sfn = aws.client("stepfunctions")
    standard = make_machine(aws, states, "Add", machine_type=None)
    execution = sfn.start_execution(stateMachineArn=standard, input="{}")["executionArn"]
    for _ in range(50):
        if sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
            break
        time.sleep(0.1)
    events = sfn.get_execution_history(executionArn=execution)["events"]
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    exited = next(e for e in events if e["type"] == "PassStateExited")
    assert json.loads(exited["stateExitedEventDetails"]["output"]) == {"one": 1}


def test_states_all_does_not_catch_a_payload_over_the_quota_as_on_aws(aws):
    table = aws.ctx.refs["FailuresTable"]
    big = f"quota-{uuid.uuid4().hex[:8]}"
    aws.client("dynamodb").put_item(TableName=table, Item={"failure_id": {"S": big}, "request": {"S": "x" * 300_000}})
    arn = make_machine(
        aws,
        {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": {"failure_id": {"S": big}}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
        "Read",
    )

    result = sync(aws, arn, {})

    aws.client("dynamodb").delete_item(TableName=table, Key={"failure_id": {"S": big}})
    assert (result["status"], result.get("error")) == ("FAILED", "States.DataLimitExceeded"), result.get("output")


def test_states_format_reads_escaped_braces_as_text(aws):
    arn = make_machine(
        aws,
        {"F": {"Type": "Pass", "Parameters": {"b.$": r"""States.Format('\{"n":{}\}', $.n)"""}, "End": True}},
        "F",
    )

    result = sync(aws, arn, {"n": [1, 2]})

    assert json.loads(json.loads(result["output"])["b"]) == {"n": [1, 2]}


def test_start_sync_execution_refuses_a_name_or_input_aws_refuses(aws):
    arn = make_machine(aws, {"P": {"Type": "Pass", "End": True}}, "P")
    sfn = aws.client("stepfunctions")
    with pytest.raises(emulator.aws_errors(), match="InvalidName"):
        emulator.start_sync_execution(arn, "{}", "has space", account=aws.ctx.account, region=aws.ctx.region)
    with pytest.raises(ClientError) as caught:
        sfn.start_execution(stateMachineArn=arn, input="x" * (256 * 1024 + 1))
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_the_endpoint_alarms_function_keeps_one_pair_per_prefixed_endpoint_in_cloudwatch(aws, model_host):
    from functions.endpoint_alarms.app import Settings, reconcile

    model_host("alarmed")
    settings = Settings(aws.prefix, "nrt-local-endpoint-", "", 5)
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="nrt-local-endpoint-nrt-deleted-model-errors",
        Metrics=[{"Id": "m", "Expression": "SELECT SUM(x) FROM y", "Period": 300}],
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )

    reconcile(aws.client("sagemaker"), cloudwatch, settings)
    reconcile(aws.client("sagemaker"), cloudwatch, settings)  # again: nothing changes

    names = {a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="nrt-local-endpoint-")["MetricAlarms"]}
    assert "nrt-local-endpoint-nrt-alarmed-model-errors" in names
    assert "nrt-local-endpoint-nrt-alarmed-cold-starts" in names
    assert "nrt-local-endpoint-nrt-deleted-model-errors" not in names


# --- the registry of patches ------------------------------------------------------------------


def test_every_patch_says_what_it_is_for_where_it_is_reported_and_which_test_proves_it():
    from tests.helpers import ROOT

    assert len(emulator.REGISTRY) == len({p.name for p in emulator.REGISTRY}) >= 25
    for entry in emulator.REGISTRY:
        assert entry.kind in {"fidelity", "speed"}, entry.name
        assert entry.aws and entry.upstream, entry.name
        path, _, test = entry.test.partition("::")
        assert f"def {test}(" in (ROOT / path).read_text(), entry


def test_a_changed_moto_function_under_a_patch_makes_install_fail_naming_the_patch():
    import subprocess
    import sys

    code = (
        "from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl\n"
        "def _eval_body(self, env):\n    pass\n"
        "ErrorEqualsDecl._eval_body = _eval_body  # as if moto had changed it\n"
        "from nrt import emulator\n"
        "emulator.install()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode != 0
    assert "patch uncatchable-errors" in done.stderr and "ErrorEqualsDecl._eval_body changed" in done.stderr


def test_the_recorded_fingerprints_are_this_moto_s():
    assert emulator.current_fingerprints.__doc__  # applied by the fixture's install(); a mismatch fails there
    applied = {key for key in emulator.expected_fingerprints()}
    assert {key.split(":", 1)[0] for key in applied} <= {p.name for p in emulator.REGISTRY}


def test_the_fidelity_tests_pass_with_every_speed_up_switched_off():
    # A speed-up must never be what makes a fidelity test pass.
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    fidelity = sorted({p.test for p in emulator.REGISTRY if p.kind == "fidelity"})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *fidelity],
        cwd=ROOT,
        env={**os.environ, emulator.SPEEDUPS_SETTING: "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_docs_list_exactly_the_registered_patches():
    from tests.helpers import ROOT

    rows = [f"| {p.name} | {p.kind} | {p.aws} | {p.upstream} |" for p in emulator.REGISTRY]
    readme = (ROOT / "docs" / "local-vs-aws.md").read_text()
    assert "\n".join(rows) in readme
    assert len(
        [line for line in readme.splitlines() if line.startswith("| ") and line.endswith(" | none yet |")]
    ) == len([p for p in emulator.REGISTRY if p.upstream == "none yet"])
