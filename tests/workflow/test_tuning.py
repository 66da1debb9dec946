"""The real statemachine/retrain.asl.json with tuning on and off on the embedded AWS: a SageMaker
hyperparameter tuning job whose trials are local training jobs (nrt/emulator/tuning_jobs.py)."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import replace
from typing import Any

import pytest

from nrt.cli.models import tuning_summary
from nrt.emulator.server import LOCAL_ROLE, RETRAIN_STATE_MACHINE, EmbeddedAws
from nrt.template import state_machine_definition
from tests.workflow.test_retrain import deploy, serving
from tests.workflow.test_retrain import retrain as run_retrain
from training.tune import parameters_from

TRIALS = 2


@pytest.fixture
def small_retrain(aws: EmbeddedAws) -> EmbeddedAws:
    """The retrain workflow deployed with 2,000 synthetic rows and 2 tuning trials (its parameters)."""
    ctx = replace(aws.ctx, parameters={**aws.ctx.parameters, "RetrainRows": "2000", "RetrainTuningJobs": str(TRIALS)})
    arn = aws.client("stepfunctions").create_state_machine(
        name=f"retrain-small-{uuid.uuid4().hex[:8]}",
        definition=state_machine_definition(RETRAIN_STATE_MACHINE, ctx),
        roleArn=LOCAL_ROLE.format(account=ctx.account, stack=ctx.stack_name),
    )["stateMachineArn"]
    aws.ctx.refs = {**aws.ctx.refs, RETRAIN_STATE_MACHINE: arn}
    return aws


def retrain(aws: EmbeddedAws, model: str, tune: bool | None, timeout: float = 120) -> dict[str, Any]:
    """The workflow run for the model, with {"tune": tune} in its input unless tune is None."""
    return run_retrain(aws, model, timeout, **({} if tune is None else {"tune": tune}))


def states_entered(aws: EmbeddedAws, execution: str) -> list[str]:
    events = aws.client("stepfunctions").get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def file_in(aws: EmbeddedAws, model_data: str, name: str) -> dict[str, Any]:
    """One JSON file of a model.tar.gz."""
    bucket, _, key = model_data.removeprefix("s3://").partition("/")
    archive = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return dict(json.loads(member.read()))


def test_given_tune_the_workflow_runs_a_tuning_job_and_gates_its_best_trial(small_retrain, model_dir):
    aws = small_retrain
    deploy(aws, "tuned", model_dir, serving_metric="0.5")

    result = retrain(aws, "tuned", tune=True, timeout=300)

    assert result["status"] == "SUCCEEDED", result
    entered = states_entered(aws, result["executionArn"])
    assert [
        s for s in entered if s in {"TuneOrTrain", "MaximiseObjective", "Tune", "DescribeBestTrainingJob", "HasVerdict"}
    ] == ["TuneOrTrain", "MaximiseObjective", "Tune", "DescribeBestTrainingJob", "HasVerdict"]
    assert "Train" not in entered
    output = json.loads(result["output"])
    sm = aws.client("sagemaker")
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=output["version"]["tuning_job"])
    assert tuning["HyperParameterTuningJobStatus"] == "Completed"
    assert tuning["TrainingJobStatusCounters"]["Completed"] == TRIALS
    best = tuning["BestTrainingJob"]
    assert best["TrainingJobName"].startswith(f"{output['version']['tuning_job']}-")
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "validation:objective"
    described = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert output["candidate"]["job"] == best["TrainingJobName"]
    assert output["candidate"]["model_data"] == described["ModelArtifacts"]["S3ModelArtifacts"]
    recipe = file_in(aws, output["candidate"]["model_data"], "signature.json")["recipe"]
    assert recipe["parameters"] == parameters_from(best["TunedHyperParameters"])  # the trial's own parameters
    tuning_card = file_in(aws, output["candidate"]["model_data"], "model_card.json")["algorithm"]["tuning"]
    assert tuning_card["tuned"] is True and "SageMaker hyperparameter tuning job" in tuning_card["by"]
    assert tuning_card["parameters"] == recipe["parameters"]
    assert output["decision"] == "promoted"
    assert serving(aws, "nrt-tuned")[2]["nrt:metric_value"] == str(output["gate"]["candidate"])
    # the output records what happened: tuning on, the job, its trials and its winner's objective
    assert output["options"]["merged"]["tune"] is True and "tune" not in output["version"]
    assert output["tuning"]["job"] == output["version"]["tuning_job"]
    assert output["tuning"]["trials"]["Completed"] == TRIALS
    assert output["tuning"]["objective"] == [best["FinalHyperParameterTuningJobObjectiveMetric"]]
    assert tuning_summary(output) == (
        f"tuning: {tuning['HyperParameterTuningJobName']} ran {TRIALS} trials; best {best['TrainingJobName']} with "
        f"validation:objective {best['FinalHyperParameterTuningJobObjectiveMetric']['Value']} (training rows only)"
    )


@pytest.mark.parametrize("tune", [False, None])
def test_without_tune_or_with_tune_false_the_workflow_trains_one_job(small_retrain, model_dir, tune):
    aws = small_retrain
    name = f"untuned-{'default' if tune is None else 'off'}"
    deploy(aws, name, model_dir, serving_metric="0.5")

    result = retrain(aws, name, tune=tune)

    assert result["status"] == "SUCCEEDED", result
    entered = states_entered(aws, result["executionArn"])
    assert "Train" in entered and "Tune" not in entered
    output = json.loads(result["output"])
    assert output["options"]["merged"]["tune"] is False and "tuning" not in output
    assert tuning_summary(output) == "tuning: off (one training job)"


def test_a_tuning_job_runs_its_trials_as_training_jobs_within_its_limits(small_retrain, model_dir):
    """The emulator's tuning job alone, through boto3: a Random search of 2 trials over one range."""
    aws = small_retrain
    definition = json.loads(state_machine_definition(RETRAIN_STATE_MACHINE, aws.ctx))["States"]["Tune"]["Parameters"]
    training = definition["TrainingJobDefinition"]
    training["StaticHyperParameters"] = {"sagemaker_program": "sagemaker_train.py", "model": "direct", "rows": "1000"}
    training.pop("InputDataConfig")  # no channel: the synthetic recipe
    sm = aws.client("sagemaker")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="nrt-tune-direct",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:objective"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.05", "MaxValue": "0.2", "ScalingType": "Logarithmic"}
                ]
            },
        },
        TrainingJobDefinition=training,
    )

    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="nrt-tune-direct")

    assert tuning["HyperParameterTuningJobStatus"] == "Completed"
    assert tuning["TrainingJobStatusCounters"]["Completed"] == 2
    assert tuning["ObjectiveStatusCounters"]["Succeeded"] == 2
    best = tuning["BestTrainingJob"]
    rate = float(best["TunedHyperParameters"]["learning_rate"])
    assert 0.05 <= rate <= 0.2
    job = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert job["HyperParameters"]["learning_rate"] == best["TunedHyperParameters"]["learning_rate"]
    objective = [m["Value"] for m in job["FinalMetricDataList"] if m["MetricName"] == "validation:objective"]
    assert objective == [best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]]
