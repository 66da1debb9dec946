"""SageMaker hyperparameter tuning jobs on this machine: each trial is a training job of the
definition's (run by the local runner, as createTrainingJob is), its hyperparameters proposed by
Optuna in place of SageMaker's strategy, bounded by the job's ResourceLimits.

Strategy -> Optuna sampler: Bayesian -> TPESampler, Random -> RandomSampler, Grid -> GridSampler
(categorical ranges only, as on AWS). Hyperband stops trials inside their training, which a local
training job cannot report: refused. Trials run one at a time (MaxParallelTrainingJobs is kept,
not used: two cores here).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from nrt.emulator.registry import patch, replace_attr

STRATEGIES = ("Bayesian", "Random", "Grid")


def distributions(ranges: dict[str, Any]) -> dict[str, Any]:
    """The job's ParameterRanges as Optuna distributions (Logarithmic as log=True)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found: dict[str, Any] = {}
    for r in ranges.get("ContinuousParameterRanges", []):
        log = r.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic")
        found[r["Name"]] = FloatDistribution(float(r["MinValue"]), float(r["MaxValue"]), log=log)
    for r in ranges.get("IntegerParameterRanges", []):
        log = r.get("ScalingType") == "Logarithmic"
        found[r["Name"]] = IntDistribution(int(r["MinValue"]), int(r["MaxValue"]), log=log)
    for r in ranges.get("CategoricalParameterRanges", []):
        found[r["Name"]] = CategoricalDistribution(list(r["Values"]))
    return found


def sampler_for(config: dict[str, Any]) -> Any:
    """The Optuna sampler standing for the job's Strategy."""
    import optuna

    strategy = config.get("Strategy", "Bayesian")
    if strategy == "Bayesian":
        return optuna.samplers.TPESampler(seed=0)
    if strategy == "Random":
        return optuna.samplers.RandomSampler(seed=0)
    if strategy == "Grid":
        ranges = config.get("ParameterRanges", {})
        if ranges.get("ContinuousParameterRanges") or ranges.get("IntegerParameterRanges"):
            raise ValueError("ValidationException: the Grid strategy takes categorical parameter ranges only")
        grid = {r["Name"]: list(r["Values"]) for r in ranges.get("CategoricalParameterRanges", [])}
        return optuna.samplers.GridSampler(grid, seed=0)
    raise ValueError(
        f"ValidationException: the {strategy} strategy is not run locally (one of {', '.join(STRATEGIES)})"
    )


def objective_value(job: Any, metric: str) -> float | None:
    """The trial's objective metric, as its training job reported it (None: it did not)."""
    if job.training_job_status != "Completed":
        return None
    found = [m["Value"] for m in job.final_metric_data_list if m["MetricName"] == metric]
    return float(found[-1]) if found else None


def run_trials(backend: Any, tuning: Any, definition: dict[str, Any]) -> list[tuple[Any, float | None, dict[str, str]]]:
    """Each trial's training job, its objective value and its tuned hyperparameters."""
    import optuna

    config = tuning.hyper_parameter_tuning_job_config
    objective = config["HyperParameterTuningJobObjective"]
    limits = config.get("ResourceLimits", {})
    study = optuna.create_study(
        direction="maximize" if objective["Type"] == "Maximize" else "minimize", sampler=sampler_for(config)
    )
    space = distributions(config.get("ParameterRanges", {}))
    started = time.monotonic()
    trials: list[tuple[Any, float | None, dict[str, str]]] = []
    for number in range(1, int(limits["MaxNumberOfTrainingJobs"]) + 1):
        if time.monotonic() - started > float(limits.get("MaxRuntimeInSeconds", float("inf"))):
            break
        trial = study.ask(space)
        tuned = {name: str(value) for name, value in trial.params.items()}
        job = _train(
            backend, f"{tuning.hyper_parameter_tuning_job_name}-{number:03d}-{uuid.uuid4().hex[:8]}", definition, tuned
        )
        value = objective_value(job, objective["MetricName"])
        study.tell(trial, value, state=None if value is not None else optuna.trial.TrialState.FAIL)
        trials.append((job, value, tuned))
    return trials


def _train(backend: Any, name: str, definition: dict[str, Any], tuned: dict[str, str]) -> Any:
    """One trial: the definition's training job with its static and tuned hyperparameters."""
    algorithm = dict(definition["AlgorithmSpecification"])
    return backend.create_training_job(
        training_job_name=name,
        hyper_parameters={**definition.get("StaticHyperParameters", {}), **tuned},
        algorithm_specification=algorithm,
        role_arn=definition["RoleArn"],
        input_data_config=definition.get("InputDataConfig", []),
        output_data_config=definition["OutputDataConfig"],
        resource_config=definition.get("ResourceConfig", {}),
        vpc_config=definition.get("VpcConfig", {}),
        stopping_condition=definition.get("StoppingCondition", {}),
        tags=[],
        enable_network_isolation=False,
        enable_inter_container_traffic_encryption=False,
        enable_managed_spot_training=False,
        checkpoint_config={},
        debug_hook_config={},
        debug_rule_configurations=[],
        tensor_board_output_config={},
        experiment_config={},
    )


def best_job(tuning: Any, trials: list[tuple[Any, float | None, dict[str, str]]]) -> dict[str, Any] | None:
    """DescribeHyperParameterTuningJob's BestTrainingJob: the trial with the best objective."""
    objective = tuning.hyper_parameter_tuning_job_config["HyperParameterTuningJobObjective"]
    scored = [(job, value, tuned) for job, value, tuned in trials if value is not None]
    if not scored:
        return None
    pick = max if objective["Type"] == "Maximize" else min
    job, value, tuned = pick(scored, key=lambda t: t[1])
    return {
        "TrainingJobName": job.training_job_name,
        "TrainingJobArn": job.arn,
        "TuningJobName": tuning.hyper_parameter_tuning_job_name,
        "CreationTime": job.creation_time,
        "TrainingStartTime": job.training_start_time,
        "TrainingEndTime": job.training_end_time,
        "TrainingJobStatus": job.training_job_status,
        "TunedHyperParameters": tuned,
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": objective["Type"],
            "MetricName": objective["MetricName"],
            "Value": value,
        },
        "ObjectiveStatus": "Succeeded",
    }


@patch(
    "fidelity",
    "a hyperparameter tuning job runs its trials as training jobs and reports the best",
    "tests/workflow/test_tuning.py::test_a_tuning_job_runs_its_trials_as_training_jobs_within_its_limits",
    upstream="docs/upstream/tuning-jobs.md (not filed)",
)
def _patch_tuning_jobs() -> None:
    from moto.core.utils import utcnow
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_hyper_parameter_tuning_job

    def create_hyper_parameter_tuning_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto marks the job Completed at once with a canned BestTrainingJob and runs no trial.
        # AWS runs up to MaxNumberOfTrainingJobs training jobs of the definition, each with the
        # hyperparameters its strategy proposes, and names the best by the objective metric.
        arn = original(self, *args, **kwargs)
        tuning = self.hyper_parameter_tuning_jobs[kwargs["hyper_parameter_tuning_job_name"]]
        started = utcnow()
        try:
            trials = run_trials(self, tuning, kwargs["training_job_definition"])
        except ValueError as error:
            trials, tuning.failure_reason = [], str(error)
        best = best_job(tuning, trials)
        finished = [job for job, _, _ in trials if job.training_job_status == "Completed"]
        tuning.training_job_status_counters = {
            "Completed": len(finished),
            "InProgress": 0,
            "RetryableError": 0,
            "NonRetryableError": len(trials) - len(finished),
            "Stopped": 0,
        }
        tuning.objective_status_counters = {
            "Succeeded": sum(value is not None for _, value, _ in trials),
            "Pending": 0,
            "Failed": sum(value is None for _, value, _ in trials),
        }
        tuning.best_training_job = tuning.OverallBestTrainingJob = best
        tuning.hyper_parameter_tuning_job_status = "Completed" if best else "Failed"
        if best is None and not tuning.failure_reason:
            tuning.failure_reason = "No training job reported the objective metric"
        tuning.hyper_parameter_tuning_end_time = tuning.last_modified_time = utcnow()
        tuning.consumed_resources = {"RuntimeInSeconds": int((utcnow() - started).total_seconds())}
        tuning.tuning_job_completion_details = {}
        return arn

    replace_attr(SageMakerModelBackend, "create_hyper_parameter_tuning_job", create_hyper_parameter_tuning_job)
