"""The retraining workflow's Tune states (statemachine/retrain.asl.json) and their IAM in
template.yaml: a tuning job whose trials are Train's training job, searching training/tune.py's space."""

from __future__ import annotations

import json
from typing import Any

from nrt.template import ROOT, Tag, load_template
from tests.template.test_lifecycle_template import props, resource_texts, statements
from training.tune import SPACE

STATES: dict[str, Any] = json.loads((ROOT / "statemachine" / "retrain.asl.json").read_text())["States"]
SAME_AS_TRAIN = ("RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig", "StoppingCondition")


def test_a_tuning_trial_is_trains_training_job_same_image_channels_static_hyperparameters_and_metrics():
    train = STATES["Train"]["Parameters"]
    definition = STATES["Tune"]["Parameters"]["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"] == train["AlgorithmSpecification"]  # image, MetricDefinitions
    assert definition["StaticHyperParameters"] == train["HyperParameters"]
    for key in SAME_AS_TRAIN:
        assert definition[key] == train[key], key
    assert STATES["Tune"]["Parameters"]["Tags"] == train["Tags"]


def test_the_tuning_objective_is_a_metric_the_training_job_defines_and_never_the_gates():
    config = STATES["Tune"]["Parameters"]["HyperParameterTuningJobConfig"]
    name = config["HyperParameterTuningJobObjective"]["MetricName"]
    definitions = STATES["Train"]["Parameters"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert name in {d["Name"] for d in definitions}
    assert name == "validation:objective" != "validation:gate_metric"


def test_the_tuning_jobs_ranges_are_training_tunes_space_on_a_log_scale():
    ranges = STATES["Tune"]["Parameters"]["HyperParameterTuningJobConfig"]["ParameterRanges"]
    found = {
        r["Name"]: (kind, float(r["MinValue"]), float(r["MaxValue"]), r["ScalingType"])
        for kind, key in (("float", "ContinuousParameterRanges"), ("int", "IntegerParameterRanges"))
        for r in ranges[key]
    }
    assert found == {name: (r.type, r.low, r.high, "Logarithmic") for name, r in SPACE.items()}


def test_tuning_is_bounded_in_training_jobs_and_time():
    limits = STATES["Tune"]["Parameters"]["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert limits["MaxNumberOfTrainingJobs.$"] == "States.StringToJson('${RetrainTuningJobs}')"
    assert limits["MaxParallelTrainingJobs"] == 2
    assert limits["MaxRuntimeInSeconds"] == 3600


def test_the_best_training_job_gives_the_gate_the_candidate_train_gives():
    describe = STATES["DescribeBestTrainingJob"]
    assert STATES["Tune"]["Next"] == "DescribeBestTrainingJob"
    assert describe["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob"
    assert describe["ResultSelector"] == STATES["Train"]["ResultSelector"]
    assert describe["ResultPath"] == STATES["Train"]["ResultPath"] == "$.candidate"
    assert describe["Next"] == STATES["Train"]["Next"]
    assert STATES["Tune"]["Catch"] == describe["Catch"] == STATES["Train"]["Catch"]


def test_the_workflow_tunes_only_when_asked_or_by_the_stacks_default_which_is_off():
    choice = STATES["TuneOrTrain"]
    assert choice["Default"] == "Train"
    assert {rule["Next"] for rule in choice["Choices"]} == {"MaximiseObjective", "MinimiseObjective"}
    # the options record the decision: the input's tune, else the stack's RetrainTuning
    assert '"tune": ${RetrainTuning}' in STATES["ReadOptions"]["Parameters"]["merged.$"]
    assert "tune" not in STATES["NameThisVersion"]["Parameters"]
    assert {r["And"][0]["Variable"] for r in choice["Choices"]} == {"$.options.merged.tune"}
    assert load_template()["Parameters"]["RetrainTuning"]["Default"] == "false"
    substitutions = props("RetrainStateMachine")["DefinitionSubstitutions"]
    assert substitutions["RetrainTuning"] == Tag("Ref", "RetrainTuning")
    assert substitutions["RetrainTuningJobs"] == Tag("Ref", "RetrainTuningJobs")


def test_the_workflow_may_run_prefixed_tuning_jobs_and_their_sync_rule_only():
    by_sid = {s["Sid"]: s for s in statements("RetrainStateMachine")}
    tune = by_sid["TunePrefixedModels"]
    assert set(tune["Action"]) == {
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
        "sagemaker:AddTags",
    }
    assert [r.rsplit(":", 1)[1] for r in resource_texts(tune)] == ["hyper-parameter-tuning-job/${EndpointPrefix}*"]
    [rule] = resource_texts(by_sid["SyncTuningJobEvents"])
    assert rule.endswith(":rule/StepFunctionsGetEventsForSageMakerTuningJobsRule")
