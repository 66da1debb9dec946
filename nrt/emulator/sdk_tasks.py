"""Step Functions' aws-sdk tasks and ASL data as AWS has them: service and error names, blob
outputs, the execution's start time, definite JSONPaths."""

from __future__ import annotations

import datetime
import re
from typing import Any

from nrt.emulator.registry import (
    patch,
    rebind_in_interpreter,
    replace_attr,
)

# --- aws-sdk service names ---------------------------------------------------------------


@patch(
    "fidelity",
    "aws-sdk:sagemakerruntime:* reaches boto3 service sagemaker-runtime",
    "tests/workflow/test_emulator.py::test_the_sagemakerruntime_sdk_integration_runs_and_its_blob_output_is_a_string",
    upstream="docs/upstream/service-names.md (not filed)",
)
def _patch_service_names() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    # Step Functions says "sagemakerruntime"; boto3 calls the service "sagemaker-runtime".
    StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES["sagemakerruntime"] = "sagemaker-runtime"


# --- error names -------------------------------------------------------------------------

# The PascalCase service names Step Functions uses in aws-sdk error names.
SDK_ERROR_SERVICE_NAMES = {
    "sagemakerruntime": "SageMakerRuntime",
    "sagemaker": "SageMaker",
    "dynamodb": "DynamoDb",
    "s3": "S3",
}


def sdk_error_name(service: str, code: str) -> str:
    """AWS: `ServiceName.ErrorCode`, with an `Exception` suffix where the code lacks one."""
    name = SDK_ERROR_SERVICE_NAMES.get(service.lower(), service)
    return f"{name}.{code}" if code.endswith("Exception") else f"{name}.{code}Exception"


@patch(
    "fidelity",
    "aws-sdk errors are named ServiceName.ErrorCode[Exception]",
    "tests/workflow/test_emulator.py::test_sdk_errors_are_named_service_dot_code_exception_as_aws_names_them",
    upstream="docs/upstream/error-names.md (not filed)",
)
def _patch_error_names() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as sdk,
    )

    original = sdk.StateTaskServiceAwsSdk._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        code = ex.response.get("Error", {}).get("Code", "Unknown")
        error = sdk_error_name(self.resource.api_name, code)
        meta = ex.response.get("ResponseMetadata", {})
        cause = (
            f"{ex.response['Error'].get('Message', '')} (Service: {error.split('.')[0]}, "
            f"Status Code: {meta.get('HTTPStatusCode')}, Request ID: {meta.get('RequestId')})"
        )
        return self._get_task_failure_event(env=env, error=error, cause=cause)

    replace_attr(sdk.StateTaskServiceAwsSdk, "_from_error", _from_error)


# --- aws-sdk task: blob outputs as strings ------------------------------------------------


def blobs_to_strings(response: dict[str, Any]) -> dict[str, Any]:
    """AWS hands blob outputs (e.g. InvokeEndpoint's Body) on as strings."""
    out: dict[str, Any] = {}
    for key, value in response.items():
        if hasattr(value, "read"):
            raw = value.read()
            out[key] = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        elif isinstance(value, bytes):
            out[key] = value.decode("utf-8")
        else:
            out[key] = value
    return out


@patch(
    "fidelity",
    "blob outputs are handed on as strings",
    "tests/workflow/test_emulator.py::test_the_sagemakerruntime_sdk_integration_runs_and_its_blob_output_is_a_string",
    upstream="docs/upstream/sdk-task.md (not filed)",
)
def _patch_sdk_task() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as sdk,
    )

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        client = getattr(sdk, "boto_client_for")(  # noqa: B009 - looked up per call: the client cache patches it
            service=self._get_boto_service_name(),
            region=resource_runtime_part.region,
            state_credentials=state_credentials,
        )
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters) or {}
        response.pop("ResponseMetadata", None)
        env.stack.append(blobs_to_strings(response))

    replace_attr(sdk.StateTaskServiceAwsSdk, "_eval_service_task", _eval_service_task)


# --- $$.Execution.StartTime ---------------------------------------------------------------


def iso_timestamp(moment: datetime.datetime) -> str:
    """The context object's time format: ISO-8601, UTC, milliseconds, 'Z'."""
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@patch(
    "fidelity",
    "$$.Execution.StartTime is an ISO-8601 string",
    "tests/workflow/test_emulator.py::test_the_execution_start_time_in_the_context_object_is_an_iso_string",
    upstream="docs/upstream/context-start-time.md (not filed)",
)
def _patch_context_start_time() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.get_start_execution_details

    def get_start_execution_details(self: Any) -> Any:
        details = original(self)
        if isinstance(details.start_time, datetime.datetime):
            details.start_time = iso_timestamp(details.start_time)
        return details

    replace_attr(Execution, "get_start_execution_details", get_start_execution_details)


@patch(
    "fidelity",
    "$$.State.EnteredTime is ISO-8601 with milliseconds and Z",
    "tests/workflow/test_emulator.py::test_the_state_entered_time_in_the_context_object_is_formatted_as_aws_formats_it",
    upstream="docs/upstream/context-entered-time.md (not filed)",
)
def _patch_context_entered_time() -> None:
    from moto.stepfunctions.parser.asl.component.state import state

    def state_data(EnteredTime: str, Name: str) -> dict[str, str]:
        # moto writes datetime.isoformat(): microseconds and +00:00, where AWS writes the
        # Execution.StartTime format; a failure record's failed_at is this time.
        entered = datetime.datetime.fromisoformat(EnteredTime)
        return {"EnteredTime": iso_timestamp(entered), "Name": Name}

    replace_attr(state, "StateData", state_data)


# --- JSONPath: definite paths give a value ----------------------------------------------------

_INDEFINITE = re.compile(r"\[\s*(\*|\?|-?\d*\s*:)|\[[^\]]*,|\.\.|\.\*")


def is_indefinite(path: str) -> bool:
    """A path that can select several nodes (wildcard, filter, slice, union, deep scan)."""
    return bool(_INDEFINITE.search(path))


@patch(
    "fidelity",
    "a definite JSONPath selects a value, not a list",
    "tests/workflow/test_emulator.py::test_definite_jsonpaths_select_a_value_and_indefinite_ones_a_list",
    upstream="docs/upstream/definite-jsonpaths.md (not filed)",
)
def _patch_definite_jsonpaths() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json

    def extract_json(path: str, data: Any) -> Any:
        # Step Functions follows JSONPath: a definite path such as $.a[0].b selects one value;
        # moto answers a list whenever an array index appears anywhere in the path.
        matches = getattr(json_path, "parse")(path).find(data)  # noqa: B009 (the cached parse)
        if is_indefinite(path):
            return [match.value for match in matches]
        if not matches:
            raise json_path.NoSuchJsonPathError(json_path=path, data=data)
        return matches[0].value

    rebind_in_interpreter("extract_json", original, extract_json)
