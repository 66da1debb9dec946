"""The template's REST API (nrt/apigateway/rest_api.py) in front of stand-in AWS services, for fast tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nrt import emulator
from nrt.apigateway.rest_api import Reply, RestApi
from nrt.template import LocalContext

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:nrt-local-inference"
EVENTS_STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:nrt-local-events"
OUTCOMES_STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:nrt-local-outcomes"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:nrt-local-list-models"
KEY = "test-key"
HEADERS = {"x-api-key": KEY, "Content-Type": "application/json"}

Answer = Callable[[str, dict[str, Any]], tuple[int, bytes]]


def succeeded(action: str, request: dict[str, Any]) -> tuple[int, bytes]:
    """Step Functions accepting the call: a finished sync execution echoing its input."""
    if action == "StartExecution":
        return 200, json.dumps({"executionArn": f"{EVENTS_STATE_MACHINE}:{request['name']}", "startDate": 1.0}).encode()
    return 200, json.dumps({"status": "SUCCEEDED", "output": request["input"]}).encode()


@dataclass
class StandIn:
    """Records what the integrations sent; answers as `answer` says, after AWS's own checks."""

    answer: Answer = succeeded
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def call(self, service: str, action: str, request: dict[str, Any]) -> tuple[int, bytes]:
        self.calls.append((action, request))
        try:
            emulator.check_execution_name(request.get("name"))
            emulator.check_execution_input(request.get("input", "{}"))
        except emulator.aws_errors() as exc:
            return emulator.error_answer(exc)
        return self.answer(action, request)

    def invoke(self, function_arn: str, event: dict[str, Any]) -> dict[str, Any]:
        assert function_arn == FUNCTION
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"models": []}'}


def context() -> LocalContext:
    return LocalContext(
        refs={
            "InferenceStateMachine": STATE_MACHINE,
            "EventsStateMachine": EVENTS_STATE_MACHINE,
            "OutcomesStateMachine": OUTCOMES_STATE_MACHINE,
            "ApiRole": "arn:aws:iam::123456789012:role/nrt-local-api",
            "ListModelsFunction": FUNCTION,
        }
    )


def make(answer: Answer = succeeded, key: str | None = KEY) -> tuple[RestApi, StandIn]:
    services = StandIn(answer)
    return RestApi.from_template(context(), services, key), services


def post(api: RestApi, path: str, body: Any, headers: dict[str, str] | None = None) -> Reply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.handle("POST", path, HEADERS if headers is None else headers, raw)
