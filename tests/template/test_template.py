"""template.yaml is the truth: the ASL, the local runtime and the linters agree with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nrt.apigateway import contract
from nrt.emulator.server import EmbeddedAws
from nrt.template import ROOT, Tag, asl_placeholders, load_template, resources

SAM = Path(sys.executable).parent / "sam"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def state_machine() -> dict[str, Any]:
    props: dict[str, Any] = resources()["InferenceStateMachine"]["Properties"]
    return props


def statements(logical_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in resources()[logical_id]["Properties"].get("Policies", []):
        found.extend(policy.get("Statement", []))
    return found


def test_substitution_keys_are_exactly_the_asl_placeholders():
    props = state_machine()
    placeholders = asl_placeholders(ROOT / props["DefinitionUri"])
    assert placeholders == set(props["DefinitionSubstitutions"])
    assert placeholders == {
        "PredictionsTable",
        "EventIdsTable",
        "FailuresTable",
        "CacheTable",
        "EndpointPrefix",
        "ModelAttemptSeconds",
    }
    events = resources()["EventsStateMachine"]["Properties"]
    assert events["DefinitionUri"] == props["DefinitionUri"]
    assert placeholders == set(events["DefinitionSubstitutions"])


def test_the_asl_names_no_arn_table_or_endpoint():
    text = (ROOT / state_machine()["DefinitionUri"]).read_text()
    assert "arn:aws:sagemaker" not in text
    assert "arn:aws:dynamodb" not in text
    assert '"nrt-' not in text
    json.loads(text)


def test_the_model_is_invoked_through_the_sdk_integration_with_no_lambda():
    definition = json.loads((ROOT / state_machine()["DefinitionUri"]).read_text())
    invoke = definition["States"]["InvokeModel"]
    assert invoke["Resource"] == "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint"
    assert "lambda" not in json.dumps(definition).lower()
    retried = {e for r in invoke["Retry"] for e in r["ErrorEquals"]}
    assert {
        "SageMakerRuntime.ModelNotReadyException",
        "SageMakerRuntime.ThrottlingException",
        "SageMakerRuntime.ServiceUnavailableException",
    } <= retried
    assert all(r.get("JitterStrategy") == "FULL" and r["IntervalSeconds"] >= 1 for r in invoke["Retry"])
    assert invoke["Catch"][-1]["ErrorEquals"] == ["States.ALL"]


def test_a_models_own_error_is_never_retried_and_every_refusal_in_the_map_is_recorded_before_it_is_answered():
    definition = json.loads((ROOT / state_machine()["DefinitionUri"]).read_text())
    invoke = definition["States"]["InvokeModel"]
    assert all("SageMakerRuntime.ModelErrorException" not in r["ErrorEquals"] for r in invoke["Retry"])
    states = definition["States"]["StorePredictions"]["ItemProcessor"]["States"]
    path, name = [], "HasEventId"
    path.append(name := states[name]["Choices"][0]["Next"])  # the model's refusal
    while "Next" in states[name] or states[name]["Type"] == "Choice":
        step = states[name]
        name = step["Choices"][0]["Next"] if step["Type"] == "Choice" else step["Next"]
        path.append(name)
    records = [states[n] for n in path if states[n].get("Resource") == "arn:aws:states:::dynamodb:putItem"]
    assert [r["Parameters"]["TableName"] for r in records] == ["${FailuresTable}"]
    assert "feature" in records[0]["Parameters"]["Item"]
    assert states[path[-1]].get("End") and "feature.$" in states[path[-1]]["Parameters"]


def test_the_workflow_is_express():
    assert state_machine()["Type"] == "EXPRESS"


def test_the_local_tables_have_the_templates_keys(aws: EmbeddedAws):
    ddb = aws.client("dynamodb")
    for logical_id in ("PredictionsTable", "FailuresTable"):
        declared = resources()[logical_id]["Properties"]
        local = ddb.describe_table(TableName=aws.ctx.refs[logical_id])["Table"]
        assert local["KeySchema"] == declared["KeySchema"]
        assert sorted(local["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
            declared["AttributeDefinitions"], key=lambda a: a["AttributeName"]
        )
        assert local["BillingModeSummary"]["BillingMode"] == declared["BillingMode"] == "PAY_PER_REQUEST"


def test_tables_are_encrypted_with_point_in_time_recovery():
    for logical_id in ("PredictionsTable", "FailuresTable"):
        props = resources()[logical_id]["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_predictions_are_keyed_by_sensor_then_timestamp_and_endpoint_so_each_model_has_its_own_item():
    table = resources()["PredictionsTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "sensor", "KeyType": "HASH"},
        {"AttributeName": "timestamp_endpoint", "KeyType": "RANGE"},
    ]
    put = json.loads((ROOT / state_machine()["DefinitionUri"]).read_text())["States"]["StorePredictions"][
        "ItemProcessor"
    ]["States"]["PutPrediction"]
    assert put["Parameters"]["Item"]["timestamp_endpoint"] == {
        "S.$": "States.Format('{}#{}', $.reading.timestamp, $.endpoint)"
    }


def test_the_workflow_may_invoke_prefixed_endpoints_only():
    invoke = [s for s in statements("InferenceStateMachine") if "sagemaker:InvokeEndpoint" in str(s["Action"])]
    assert len(invoke) == 1
    resource = invoke[0]["Resource"]
    assert isinstance(resource, Tag) and resource.name == "Sub"
    assert resource.value.endswith(":endpoint/${EndpointPrefix}*")


# Actions AWS documents without resource-level permissions; nothing else may use "*".
def test_the_api_role_may_start_each_routes_workflow_only_and_with_the_latency_tier_invoke_its_function():
    policy, latency_tier = resources()["ApiRole"]["Properties"]["Policies"]
    sync, events = policy["PolicyDocument"]["Statement"]
    assert (sync["Action"], sync["Resource"]) == ("states:StartSyncExecution", Tag("Ref", "InferenceStateMachine"))
    assert (events["Action"], events["Resource"]) == ("states:StartExecution", Tag("Ref", "EventsStateMachine"))
    condition, invoke, otherwise = latency_tier.value
    [statement] = invoke["PolicyDocument"]["Statement"]
    assert (condition, otherwise) == ("WithLatencyTier", Tag("Ref", "AWS::NoValue"))
    invoked = Tag("GetAtt", "PredictFunction.Arn")
    assert (statement["Action"], statement["Resource"]) == ("lambda:InvokeFunction", invoked)


def test_the_api_validates_bodies_with_the_contract_schema():
    body = resources()["Api"]["Properties"]["DefinitionBody"]
    for route in ("/predictions", "/events"):
        post = body["paths"][route]["post"]
        assert post["x-amazon-apigateway-request-validator"] == "body"
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/PredictionRequest"}


def test_the_sync_route_maps_workflow_failures_from_the_cause_as_the_local_health_count_does():
    post = resources()["Api"]["Properties"]["DefinitionBody"]["paths"]["/predictions"]["post"]
    integration = post["x-amazon-apigateway-integration"]
    assert integration["uri"].value[2].value.endswith("states:action/StartSyncExecution")
    template = integration["responses"]["default"]["responseTemplates"]["application/json"]
    assert "$context.responseOverride.status = $answer.status" in template
    assert "startsWith('{\"status\"')" in template
    assert "startswith('{\"status\"')" in Path(contract.__file__).read_text()


def test_outputs_name_the_api_state_machine_and_tables():
    assert {
        "ApiUrl",
        "InferenceStateMachineArn",
        "EventsStateMachineArn",
        "PredictionsTableName",
        "FailuresTableName",
    } <= set(load_template()["Outputs"])


def _env_with_python312() -> dict[str, str]:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(pyenv_root.glob("versions/3.12*/bin"))
    path = [str(p) for p in candidates[-1:]] + [
        str(Path(sys.executable).parent),
        env.get("PATH", ""),
    ]
    env["PATH"] = os.pathsep.join(path)
    env.pop("PYENV_VERSION", None)
    return env


def test_sam_validate_lint_is_clean():
    result = subprocess.run(
        [str(SAM), "validate", "--lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env_with_python312(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint_is_clean():
    result = subprocess.run([str(CFN_LINT), "template.yaml"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_build_succeeds(tmp_path):
    env = _env_with_python312()
    assert shutil.which("python3.12", path=env["PATH"]), "sam build needs python3.12 (the Lambda runtime) on PATH"
    result = subprocess.run(
        [
            str(SAM),
            "build",
            "--build-dir",
            str(tmp_path / "build"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = tmp_path / "build"
    assert (built / "template.yaml").exists()
    assert (built / "ListModelsFunction" / "app.py").exists()
    # The latency tier's image is built outside sam build (SkipBuild), so no deploy needs Docker.
    assert not (built / "PredictFunction").exists()
    # The handler's logic, importable as locally: functions.list_models.models.
    assert (built / "ListModelsFunction" / "functions" / "list_models" / "models.py").exists()
    assert (built / "FirehoseTransformFunction" / "app.py").exists()
    assert (built / "FirehoseTransformFunction" / "aws_lambda_powertools").is_dir()
    # Bytecode compiled at build time (Lambda cannot write it): hash-based and never checked
    # against the source (PEP 552 flags 0b01), so the files' times do not matter.
    for function in ("ListModelsFunction", "FirehoseTransformFunction", "EndpointAlarmsFunction"):
        [compiled] = (built / function / "__pycache__").glob("app.cpython-312.pyc")
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01
        assert any((built / function / "aws_lambda_powertools" / "__pycache__").glob("*.cpython-312.pyc"))
