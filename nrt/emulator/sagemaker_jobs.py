"""SageMaker in the retraining workflow: the optimised Step Functions integration (with
createTrainingJob.sync and createProcessingJob.sync), and training and processing jobs run on
this machine by the runtime's runners."""

from __future__ import annotations

import copy
import datetime
import functools
import re
from collections.abc import Callable
from typing import Any

from nrt.emulator.registry import (
    patch,
    replace_attr,
)
from nrt.emulator.wiring import wired

# --- the optimised SageMaker integration ---------------------------------------------------


def epoch_ms_values(value: Any) -> Any:
    """Datetimes in an SDK response as epoch milliseconds, as Step Functions shows them."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: epoch_ms_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [epoch_ms_values(v) for v in value]
    return value


# The actions AWS documents for the optimised SageMaker integration.
SAGEMAKER_OPTIMISED_ACTIONS = {
    "createEndpoint",
    "createEndpointConfig",
    "createHyperParameterTuningJob",
    "createLabelingJob",
    "createModel",
    "createProcessingJob",
    "createTrainingJob",
    "createTransformJob",
    "updateEndpoint",
}


# .sync jobs: the create action -> (its describe action, the job's name key, its status key).
SYNC_JOBS = {
    "create_training_job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "create_hyper_parameter_tuning_job": (
        "describe_hyper_parameter_tuning_job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
    ),
    "create_processing_job": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
}


@functools.lru_cache(maxsize=1)
def _sagemaker_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def sync_task_failed(task: Any, env: Any, described: dict[str, Any]) -> Exception:
    """What a `.sync` task raises when the work it waits for ends other than done: States.TaskFailed,
    the work's description (its Describe... answer) as the cause, as AWS reports it."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event import event_detail
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    EventDetails: Any = event_detail.EventDetails  # a TypedDict with every event kind's key
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    resource=task._get_sfn_resource(),
                    resourceType=task._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesTaskFailed.to_name(),
                    cause=to_json_str(epoch_ms_values(described)),
                )
            ),
        )
    )


def client_error_event(task: Any, env: Any, name: str, message: str) -> Any:
    """The failure an optimised integration's task reports for a service's ClientError: the error
    named as AWS names it for that service (`name`), the service's message as the cause."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.eval.event import event_detail

    EventDetails: Any = event_detail.EventDetails  # a TypedDict with every event kind's key
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(name),
        event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(
            taskFailedEventDetails=TaskFailedEventDetails(
                error=name,
                cause=message,
                resource=task._get_sfn_resource(),
                resourceType=task._get_sfn_resource_type(),
            )
        ),
    )


def push_response(task: Any, env: Any, client: Any, parameters: dict[str, Any]) -> None:
    """Call the task's action with its parameters and put the answer (times as epoch ms, without
    ResponseMetadata) on the stack, as an optimised integration hands it on."""
    response = getattr(client, task._get_boto_service_action())(**parameters)
    response.pop("ResponseMetadata", None)
    env.stack.append(epoch_ms_values(response))


@patch(
    "fidelity",
    "the optimised SageMaker integration, with createTrainingJob.sync and createProcessingJob.sync",
    "tests/workflow/test_emulator.py::test_the_optimised_sagemaker_integration_forwards_request_response_actions",
    upstream="docs/upstream/sagemaker-integration.md (not filed)",
)
def _patch_sagemaker_integration() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    # moto sets up the task's callback endpoint only when .waitForTaskToken is listed, and its
    # .sync path needs that endpoint; the token pattern itself is refused below.
    patterns: set[Any] = {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken}

    class StateTaskServiceSageMaker(StateTaskServiceCallback):
        """arn:aws:states:::sagemaker:<action>[.sync]: moto lists SageMaker as unsupported."""

        def __init__(self) -> None:
            super().__init__(supported_integration_patterns=patterns)

        def _wait_for_task_token(self, env: Any, resource_runtime_part: Any, normalised_parameters: Any) -> None:
            raise RuntimeError(f"{self.resource.resource_arn}: .waitForTaskToken is not supported")

        def _get_supported_parameters(self) -> set[str] | None:
            action = self.resource.api_action
            if action not in SAGEMAKER_OPTIMISED_ACTIONS:
                return None  # moto then refuses the resource, as AWS does
            return set(_sagemaker_model().operation_model(action[0].upper() + action[1:]).input_shape.members)

        def _client(self, resource_runtime_part: Any, credentials: Any) -> Any:
            return boto_client.boto_client_for(
                service="sagemaker", region=resource_runtime_part.region, state_credentials=credentials
            )

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                error = ex.response["Error"]
                return client_error_event(self, env, f"SageMaker.{error['Code']}", error["Message"])
            return super()._from_error(env=env, ex=ex)

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
        ) -> None:
            push_response(self, env, self._client(resource_runtime_part, state_credentials), normalised_parameters)

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
        ) -> Callable[[], Any]:
            action = self._get_boto_service_action()
            if action not in SYNC_JOBS:
                raise ValueError(f"sagemaker:{action}.sync is not supported locally")
            client = self._client(resource_runtime_part, state_credentials)
            describe, key, status_key = SYNC_JOBS[action]
            name = normalised_parameters[key]

            def resolve() -> Any:
                # AWS's .sync answer for a job is its Describe...Job.
                job = getattr(client, describe)(**{key: name})
                job.pop("ResponseMetadata", None)
                status = job[status_key]
                if status in ("InProgress", "Stopping"):
                    return None
                if status == "Completed":
                    return epoch_ms_values(job)
                raise sync_task_failed(self, env, job)

            return resolve

    original = getattr(state_task_factory, "state_task_service_for")  # noqa: B009

    def state_task_service_for(service_name: str) -> Any:
        return StateTaskServiceSageMaker() if service_name == "sagemaker" else original(service_name)

    replace_attr(state_task_factory, "state_task_service_for", state_task_service_for)


# --- training jobs run on this machine --------------------------------------------------------


def metrics_from_log(definitions: list[dict[str, str]], log: str) -> list[dict[str, Any]]:
    """FinalMetricDataList as SageMaker builds it: each definition's regex, last match in the log."""

    found = []
    for definition in definitions:
        matches = re.findall(definition["Regex"], log)
        if matches:
            found.append({"MetricName": definition["Name"], "Value": float(matches[-1])})
    return found


def _channel_files(backend: Any, config: list[dict[str, Any]]) -> dict[str, dict[str, bytes]]:
    """Each S3 input channel's objects under its prefix (name relative to it), as File mode copies them."""
    from moto.s3.models import s3_backends

    s3 = s3_backends[backend.account_id][backend.partition]
    channels: dict[str, dict[str, bytes]] = {}
    for channel in config:
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        keys = [k for k in s3.get_bucket(bucket).keys if k.startswith(prefix)]
        if not keys:
            raise ValueError(f"ClientError: no S3 objects found under S3 URL {uri}")
        channels[channel["ChannelName"]] = {
            k[len(prefix) :].lstrip("/") or k.rsplit("/", 1)[-1]: s3.get_object(bucket, k).value  # type: ignore[union-attr]
            for k in keys
        }
    return channels


@patch(
    "fidelity",
    "a training job runs, writes model.tar.gz and reports its metrics",
    "tests/workflow/test_emulator.py::test_a_training_job_sync_runs_the_job_and_answers_its_description_with_its_metrics",
    upstream="docs/upstream/training-jobs.md (not filed)",
)
def _patch_training_jobs() -> None:
    from moto.core.utils import utcnow
    from moto.s3.models import s3_backends
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_training_job

    def create_training_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto marks every job Completed at once, with canned metrics and no artifact. AWS
        # runs the algorithm, writes model.tar.gz and reports the metrics the job's
        # MetricDefinitions find in its log: so does this, with the local runner.
        requested = copy.deepcopy(kwargs["algorithm_specification"].get("MetricDefinitions", []))
        job: Any = original(self, *args, **kwargs)
        job.algorithm_specification["MetricDefinitions"] = requested

        def failed(reason: str) -> Any:
            job.training_job_status = job.secondary_status = "Failed"
            job.failure_reason = reason
            job.final_metric_data_list = []
            return job

        runner = wired().training_runner
        if runner is None:
            return failed("no local training runner: start the embedded AWS with nrt up")
        try:
            channels = _channel_files(self, kwargs.get("input_data_config") or [])
            archive, log = runner(job.training_job_name, dict(job.hyper_parameters or {}), channels)
        except Exception as error:
            return failed(f"AlgorithmError: {error}")
        bucket, _, key = job.model_artifacts["S3ModelArtifacts"].removeprefix("s3://").partition("/")
        s3_backends[self.account_id][self.partition].put_object(bucket, key, archive)
        now = utcnow()
        job.final_metric_data_list = [{**m, "Timestamp": now} for m in metrics_from_log(requested, log)]
        job.training_end_time = job.last_modified_time = now
        return job

    replace_attr(SageMakerModelBackend, "create_training_job", create_training_job)


# --- processing jobs run on this machine ------------------------------------------------------


def _input_files(backend: Any, inputs: list[dict[str, Any]]) -> dict[str, dict[str, bytes]]:
    """Each S3 input's objects by its LocalPath, as File mode copies them."""
    channels = _channel_files(
        backend,
        [{"ChannelName": i["S3Input"]["LocalPath"], "DataSource": {"S3DataSource": i["S3Input"]}} for i in inputs],
    )
    return channels


def _put_outputs(backend: Any, outputs: list[dict[str, Any]], files: dict[str, dict[str, bytes]]) -> None:
    """Each output's files under its S3Uri (EndOfJob upload)."""
    from moto.s3.models import s3_backends

    s3 = s3_backends[backend.account_id][backend.partition]
    for output in outputs:
        bucket, _, prefix = output["S3Output"]["S3Uri"].removeprefix("s3://").partition("/")
        for name, body in files.get(output["S3Output"]["LocalPath"], {}).items():
            s3.put_object(bucket, f"{prefix.rstrip('/')}/{name}", body)


@patch(
    "fidelity",
    "a processing job runs its container's module, writes its outputs to S3 and reports ExitMessage and FailureReason",
    "tests/workflow/test_retrain_prepare.py::test_a_processing_job_runs_here_and_a_failed_one_reports_its_exit_message",
    upstream="docs/upstream/processing-jobs.md (not filed)",
)
def _patch_processing_jobs() -> None:
    from moto.core.utils import utcnow
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_processing_job

    def create_processing_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto marks every job Completed at once and runs nothing. AWS runs the container,
        # copies its inputs in and its outputs out, and a container that exits non-zero leaves
        # the job Failed with a FailureReason, and /opt/ml/output/message as its ExitMessage.
        job: Any = original(self, *args, **kwargs)
        job.processing_job_status = "Failed"
        runner = wired().processing_runner
        if runner is None:
            job.failure_reason = "no local processing runner: start the embedded AWS with nrt up"
            return job
        app = kwargs.get("app_specification") or {}
        outputs = (kwargs.get("processing_output_config") or {}).get("Outputs", [])
        try:
            finished = runner(
                job.processing_job_name,
                list(app.get("ContainerEntrypoint", [])),
                list(app.get("ContainerArguments", [])),
                _input_files(self, kwargs.get("processing_inputs") or []),
                [o["S3Output"]["LocalPath"] for o in outputs],
            )
        except Exception as error:
            job.failure_reason = f"ClientError: {error}"
            return job
        if finished.exit_message is not None:
            job.exit_message = finished.exit_message
        if finished.exit_code == 0:
            _put_outputs(self, outputs, finished.outputs)
            job.processing_job_status = "Completed"
        else:
            last = finished.log.strip().splitlines()[-1] if finished.log.strip() else ""
            job.failure_reason = f"AlgorithmError: {last or f'exit {finished.exit_code}'}"[:1024]
        job.processing_end_time = job.last_modified_time = utcnow()
        return job

    replace_attr(SageMakerModelBackend, "create_processing_job", create_processing_job)
