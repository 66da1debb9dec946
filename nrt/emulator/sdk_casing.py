"""Tasks calling a camelCase API (Step Functions' own: `aws-sdk:sfn:*`, `states:startExecution`)
as AWS runs them: parameters and results in PascalCase, the service's members mapped both ways."""

from __future__ import annotations

import functools
from typing import Any

from nrt.emulator.registry import patch, replace_attr

# boto3 services whose API members are camelCase: Step Functions names their members in
# PascalCase in an aws-sdk task ("StateMachineArn", "Executions"), whatever the API's casing.
CAMEL_CASED_SERVICES = frozenset({"stepfunctions"})


@functools.cache
def _operation(service: str, action: str) -> Any:
    """botocore's model of the operation a task calls (`listExecutions` or `list_executions` -> ListExecutions)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    words = action.split("_")
    return model.operation_model("".join(word[0].upper() + word[1:] for word in words if word))


@patch(
    "fidelity",
    "tasks of a camelCase API (Step Functions') take and give PascalCase members",
    "tests/workflow/test_retrain_alarm.py::test_given_a_retraining_of_the_model_running_when_its_alarm_flaps_an_hour_later_then_none_starts",
    upstream="docs/upstream/sdk-casing.md (not filed)",
)
def _patch_sdk_casing() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service as service,
    )

    def _normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        service = self._get_boto_service_name(boto_service_name)
        if service in CAMEL_CASED_SERVICES:
            action = service_action_name or self.resource.api_action
            self._to_boto_request(parameters, _operation(service, action).input_shape)

    def _normalise_response(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        service = self._get_boto_service_name(boto_service_name)
        if service in CAMEL_CASED_SERVICES:
            action = service_action_name or self.resource.api_action
            self._from_boto_response(response, _operation(service, action).output_shape)

    replace_attr(service.StateTaskService, "_normalise_parameters", _normalise_parameters)
    replace_attr(service.StateTaskService, "_normalise_response", _normalise_response)
