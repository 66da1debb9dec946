"""template.yaml and statemachine/retrain.asl.json, the quality gate: the serving model's artifact
reaches the training job, the gate reads the job's own verdict on one hold-out, and the IAM for
it is scoped to this stack's models and artifacts (issue 25)."""

from __future__ import annotations

import json
import re
from typing import Any

from nrt.template import ROOT, Tag, resources
from training import gate, sagemaker_train
from training.gate import Verdict


def states() -> dict[str, Any]:
    machine = resources()["RetrainStateMachine"]["Properties"]
    found: dict[str, Any] = json.loads((ROOT / machine["DefinitionUri"]).read_text())["States"]
    return found


def policy(logical_id: str) -> dict[str, dict[str, Any]]:
    found = resources()[logical_id]["Properties"]["Policies"]
    listed = [s for p in found for s in p.get("PolicyDocument", p)["Statement"]]
    return {s["Sid"]: s for s in listed}


def test_the_serving_models_artifact_is_the_training_jobs_serving_channel():
    asl = states()

    assert asl["HasRecipe"]["Choices"][0]["Next"] == "DescribeServingModel"
    described = asl["DescribeServingModel"]
    assert described["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeModel"
    assert described["Parameters"] == {"ModelName.$": "$.capacity.variant.ModelName"}
    assert described["ResultSelector"]["artifact.$"] == "$..ModelDataUrl"  # a list: empty without one
    assert described["Catch"][0]["Next"] == "NotifyNoServingArtifact"
    assert asl["HasServingArtifact"]["Default"] == "NotifyNoServingArtifact"
    channels = {c["ChannelName"]: c for c in asl["Train"]["Parameters"]["InputDataConfig"]}
    source = channels[sagemaker_train.SERVING_CHANNEL]["DataSource"]["S3DataSource"]
    assert source["S3Uri.$"] == "$.serving_model.artifact[0]"
    assert source["S3DataType"] == "S3Prefix"


def test_the_metric_definitions_read_every_line_the_training_job_prints():
    definitions = states()["Train"]["Parameters"]["AlgorithmSpecification"]["MetricDefinitions"]
    judgement = gate.Judgement("rmse", Verdict.WORSE, "", 40, None, 12.5, 10.25, -3.5, -0.75)

    printed = sagemaker_train.metric_lines(judgement) + sagemaker_train.METRIC_LINE.format("rmse", 12.5) + "\n"

    found = {d["Name"]: float(m[-1]) for d in definitions if (m := re.findall(d["Regex"], printed))}
    assert found == {
        "validation:gate_metric": 12.5,
        "validation:serving_metric": 10.25,
        "validation:gate_verdict": 0.0,
        "validation:holdout_rows": 40.0,
        "validation:gate_difference_low": -3.5,
        "validation:gate_difference_high": -0.75,
        "validation:rmse": 12.5,
    }
    assert {d["Name"].removeprefix("validation:") for d in definitions} >= set(gate.GATE_METRICS)


def test_the_gate_branches_on_the_jobs_verdict_and_every_undecided_one_keeps_the_serving_model():
    asl = states()
    routes = {c["And"][0]["NumericEquals"]: c["Next"] for c in asl["QualityGate"]["Choices"]}

    assert all(c["And"][0]["Variable"] == "$.candidate.verdict[0]" for c in asl["QualityGate"]["Choices"])
    assert routes == {
        Verdict.NOT_WORSE: "Judged",
        Verdict.WORSE: "JudgedWorse",
        Verdict.TOO_CLOSE: "TooClose",
        Verdict.TOO_FEW_ROWS: "TooFewRows",
        Verdict.TOO_FEW_OF_A_LABEL: "TooFewOfALabel",
        Verdict.SERVING_NOT_SCORED: "ServingNotScored",
    }
    assert asl["Judged"]["Next"] == "CreateModel" and asl["JudgedWorse"]["Next"] == "NotifyRejected"
    for undecided in ("TooClose", "TooFewRows", "TooFewOfALabel", "ServingNotScored"):
        assert asl[undecided]["Next"] == "NotifyUndecided"
    assert asl["NotifyUndecided"]["Next"] == "Undecided"
    assert asl["Undecided"] == {**asl["Undecided"], "Result": "undecided", "End": True}
    assert "serving_tags.value" not in json.dumps(asl)  # no stale recorded value is compared


def test_the_undecided_reasons_state_the_gates_own_minimums():
    asl = states()

    assert f"fewer than the {gate.MIN_ROWS} the gate" in asl["TooFewRows"]["Parameters"]["reason.$"]
    assert f"fewer than the {gate.MIN_MINORITY_ROWS} the gate" in asl["TooFewOfALabel"]["Parameters"]["reason.$"]
    assert f"({gate.CONFIDENCE:.0%} paired bootstrap)" in asl["TooClose"]["Parameters"]["reason.$"]


def test_the_workflow_may_describe_only_this_stacks_models():
    statement = policy("RetrainStateMachine")["DescribeServingModel"]

    assert statement["Action"] == "sagemaker:DescribeModel"
    assert statement["Resource"] == Tag(
        "Sub", "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:model/${EndpointPrefix}*"
    )


def test_the_training_job_may_list_only_the_artifact_prefixes_of_the_serving_channel():
    by_sid = policy("SageMakerExecutionRole")

    listing = by_sid["ListServingArtifacts"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", Tag("GetAtt", "ModelArtifactsBucket.Arn"))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["models/*", "training/*"]}}
    readable = [r.value.split("/", 1)[1] for r in by_sid["ReadModelsAndTrainingCode"]["Resource"]]
    assert {"models/*", "training/*"} <= set(readable)  # GetObject on the artifacts, as before


def test_a_promotion_writes_the_candidates_outcome_contract_and_quality_value_where_serving_reads_them():
    asl = states()

    assert asl["ResumeCache"]["Next"] == asl["ResumeCache"]["Catch"][0]["Next"] == "RecordSignature"
    copy = asl["RecordSignature"]
    assert copy["Resource"] == "arn:aws:states:::aws-sdk:s3:copyObject"
    assert copy["Parameters"]["CopySource.$"].endswith("/prepared/{}/outcome_contract.json', $.version.name)")
    assert copy["Parameters"]["Key.$"] == "States.Format('signatures/{}.json', $.serving.endpoint)"
    assert copy["Next"] == "RecordMetric"
    tags = {t["Key"]: t["Value.$"] for t in asl["RecordMetric"]["Parameters"]["Tags"]}
    assert tags == {
        "nrt:metric_value": "States.Format('{}', $.gate.candidate)",
        "nrt:quality_value": "States.Format('{}', $.gate.quality)",
    }
    for state in ("Train", "DescribeBestTrainingJob"):
        assert "validation:quality_value" in asl[state]["ResultSelector"]["quality.$"]
    printed = sagemaker_train.METRIC_LINE.format(sagemaker_train.QUALITY_VALUE, 0.8125)
    definitions = asl["Train"]["Parameters"]["AlgorithmSpecification"]["MetricDefinitions"]
    [quality] = [d for d in definitions if d["Name"] == "validation:quality_value"]
    assert float(re.findall(quality["Regex"], printed)[0]) == 0.8125


def test_the_workflow_may_copy_only_outcome_contracts_to_this_stacks_signatures():
    by_sid = policy("RetrainStateMachine")

    read, write = by_sid["ReadCandidateOutcomeContracts"], by_sid["WritePrefixedSignatures"]
    assert (read["Action"], read["Resource"]) == (
        "s3:GetObject",
        Tag("Sub", "${ModelArtifactsBucket.Arn}/prepared/*/outcome_contract.json"),
    )
    assert (write["Action"], write["Resource"]) == (
        "s3:PutObject",
        Tag("Sub", "${ModelArtifactsBucket.Arn}/signatures/${EndpointPrefix}*"),
    )
