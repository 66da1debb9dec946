"""Helpers for the embedded AWS's tests: a throwaway state machine, run synchronously."""

from __future__ import annotations

import json
import uuid
from typing import Any

from nrt import emulator
from nrt.emulator.server import EmbeddedAws


def make_machine(aws: EmbeddedAws, states: dict[str, Any], start: str, machine_type: str | None = "EXPRESS") -> str:
    """A state machine of `machine_type`; None leaves the type to the API's default (STANDARD)."""
    sfn = aws.client("stepfunctions")
    return str(
        sfn.create_state_machine(
            name=f"compat-{uuid.uuid4().hex[:8]}",
            definition=json.dumps({"StartAt": start, "States": states}),
            roleArn=f"arn:aws:iam::{aws.ctx.account}:role/test",
            **({"type": machine_type} if machine_type else {}),
        )["stateMachineArn"]
    )


def sync(aws: EmbeddedAws, arn: str, body: Any) -> dict[str, Any]:
    return emulator.start_sync_execution(arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region)


INVOKE = {
    "Type": "Task",
    "Resource": "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint",
    "Parameters": {
        "EndpointName.$": "$.endpoint",
        "ContentType": "application/json",
        "Body.$": "$.body",
    },
    "End": True,
}
