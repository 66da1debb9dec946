"""The latency tier in template.yaml: LatencyTier Disabled leaves POST /predictions as it was
(API Gateway starts the workflow); Enabled points the same integration at PredictFunction,
whose rights are the least its work needs and whose image is built from files that exist."""

from __future__ import annotations

import re
from typing import Any

from nrt.template import ROOT, LocalContext, Tag, load_template, resolve, resources


def integration(latency_tier: str | None) -> dict[str, Any]:
    parameters = {} if latency_tier is None else {"LatencyTier": latency_tier}
    ctx = LocalContext(parameters=parameters, refs={"InferenceStateMachine": "machine", "ApiRole": "api-role"})
    ctx.refs["PredictFunction"] = "nrt-local-predict"
    post = resources()["Api"]["Properties"]["DefinitionBody"]["paths"]["/predictions"]["post"]
    resolved: dict[str, Any] = resolve(post["x-amazon-apigateway-integration"], ctx)
    return resolved


def test_given_latency_tier_disabled_by_default_then_post_predictions_starts_the_workflow_as_before():
    assert load_template()["Parameters"]["LatencyTier"]["Default"] == "Disabled"
    for value in (None, "Disabled"):
        found = integration(value)
        assert found["type"] == "aws"
        assert found["uri"] == "arn:aws:apigateway:us-east-1:states:action/StartSyncExecution"
        assert found["credentials"] == "arn:aws:iam::123456789012:role/api-role"


def test_given_latency_tier_enabled_then_the_same_integration_invokes_the_predict_function_with_its_templates():
    disabled, enabled = integration("Disabled"), integration("Enabled")
    function = "arn:aws:lambda:us-east-1:123456789012:function:nrt-local-predict"
    assert enabled["uri"] == f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations"
    same = ("type", "httpMethod", "credentials", "passthroughBehavior", "timeoutInMillis", "requestTemplates")
    assert {k: enabled[k] for k in same} == {k: disabled[k] for k in same}
    assert enabled["responses"] == disabled["responses"]
    # A Lambda result takes the default integration response (patterns match function errors only).
    assert "default" in enabled["responses"]


def test_the_predict_function_exists_only_with_the_tier_and_may_do_only_its_work():
    function = resources()["PredictFunction"]
    assert function["Condition"] == resources()["PredictLogGroup"]["Condition"] == "WithLatencyTier"
    props = function["Properties"]
    assert props["PackageType"] == "Image" and props["Timeout"] < 29
    # Built outside sam build and given as a parameter, which a rule requires with the tier on.
    assert function["Metadata"]["SkipBuild"] is True
    assert props["ImageUri"] == Tag("Ref", "PredictImageUri")
    rule = load_template()["Rules"]["LatencyTierNeedsItsImage"]
    assert rule["RuleCondition"] == Tag("Equals", [Tag("Ref", "LatencyTier"), "Enabled"])
    assert rule["Assertions"][0]["Assert"] == Tag("Not", [Tag("Equals", [Tag("Ref", "PredictImageUri"), ""])])
    rights = {s["Sid"]: (s["Action"], s["Resource"]) for s in props["Policies"][0]["Statement"]}
    assert rights == {
        "ReadLambdaTierModels": ("s3:GetObject", Tag("Sub", "${ModelArtifactsBucket.Arn}/lambda/*")),
        "FindLambdaTierModels": ("s3:ListBucket", Tag("GetAtt", "ModelArtifactsBucket.Arn")),
        "StorePredictions": (["dynamodb:PutItem", "dynamodb:GetItem"], Tag("GetAtt", "PredictionsTable.Arn")),
        "ClaimEventIdsAndRecordFailures": (
            "dynamodb:PutItem",
            [Tag("GetAtt", "EventIdsTable.Arn"), Tag("GetAtt", "FailuresTable.Arn")],
        ),
        "PredictionCache": (["dynamodb:GetItem", "dynamodb:PutItem"], Tag("GetAtt", "CacheTable.Arn")),
        "StartTheWorkflow": ("states:StartSyncExecution", Tag("Ref", "InferenceStateMachine")),
    }
    env = props["Environment"]["Variables"]
    from functions.predict.app import SETTINGS

    assert set(env) == set(SETTINGS)


def test_the_predict_functions_image_is_built_from_files_that_exist_and_runs_its_handler():
    metadata = resources()["PredictFunction"]["Metadata"]
    dockerfile = (ROOT / metadata["DockerContext"] / metadata["Dockerfile"]).read_text()
    sources = [word for line in dockerfile.splitlines() if line.startswith("COPY ") for word in line.split()[1:-1]]
    assert sources and all((ROOT / s).is_file() for s in sources), sources
    [handler] = re.findall(r'CMD \["([\w.]+)"\]', dockerfile)
    module, _, name = handler.rpartition(".")
    assert callable(getattr(__import__(module, fromlist=[name]), name))
    # Every module of the function and the serving code it imports goes into the image.
    copied = {s for s in sources if s.endswith(".py")}
    assert {"functions/predict/serving.py", "training/container.py", "training/inference.py"} <= copied


def test_the_lambda_tier_writes_a_batch_as_wide_as_the_workflows_map():
    import json

    from functions.predict.serving import MAP_WIDTH

    asl = json.loads((ROOT / "statemachine" / "inference.asl.json").read_text())
    assert asl["States"]["StorePredictions"]["MaxConcurrency"] == MAP_WIDTH
