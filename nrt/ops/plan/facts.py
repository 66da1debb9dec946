"""What the template and the inference ASL say a reading costs: counted from the files, not
copied, so the plan follows the template when it changes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nrt.template import ROOT, TEMPLATE_PATH, load_template

__all__ = ["Facts", "facts", "write_paths"]

STATE_MACHINE = "InferenceStateMachine"
PREDICTIONS_TABLE_PLACEHOLDER = "${PredictionsTable}"
_BATCH_LIMIT = re.compile(r"^\$\.readings\[(\d+)\]$")


@dataclass(frozen=True)
class Facts:
    """Per-request and per-reading counts, and the settings the plan prices, from the template."""

    batch_limit: int  # readings a batch may hold (the Validate state's rule)
    map_concurrency: int  # StorePredictions' MaxConcurrency: writes in flight per request
    model_calls_per_request: int  # invokeEndpoint tasks on the success path
    writes_per_reading: int  # DynamoDB writes for a reading without its own event_id
    writes_per_reading_with_event_id: int  # ... and with one (the claim in the event-ids table)
    prediction_attributes: tuple[str, ...]  # the item PutPrediction writes
    definition_bytes: int  # the ASL's size: Express bills memory from it
    express_logs_each_execution: bool  # Logging Level ALL (ERROR logs failures only)
    access_log_format: str  # one line per API request in CloudWatch Logs
    transform_buffer_mb: float  # Firehose's batch to the transform Lambda
    transform_buffer_seconds: float
    lake_buffer_mb: float  # Firehose's buffer before a Parquet object
    lake_buffer_seconds: float  # LakeBufferSeconds' default
    lambda_memory_mb: int  # the Globals' MemorySize (the transform function)
    alarms: int  # AWS::CloudWatch::Alarm resources (each endpoint adds two more)
    dashboards: int
    athena_cutoff_bytes: int  # AthenaBytesScannedCutoff's default
    api_tracing: bool
    key_rate_limit: float  # the usage plan's ThrottleRateLimit default: requests/s per API key
    key_burst_limit: float


def _resources_of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r.get("Type") == kind]


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def batch_limit(asl: dict[str, Any]) -> int:
    """N from the Validate state's `Not: {Variable: $.readings[N], IsPresent: true}`."""
    for rule in _walk(asl["States"]["Validate"]):
        match = _BATCH_LIMIT.match(str(rule.get("Variable", "")))
        if match and rule.get("IsPresent") is True and int(match.group(1)) > 0:
            return int(match.group(1))
    raise ValueError("the Validate state names no batch limit ($.readings[N] IsPresent)")


def _successors(state: dict[str, Any]) -> list[str]:
    """Where a state goes when nothing fails: Next, or a Choice's rules and Default (not Catch)."""
    if state["Type"] == "Choice":
        nexts = [rule["Next"] for rule in state.get("Choices", [])]
        return nexts + ([state["Default"]] if "Default" in state else [])
    return [state["Next"]] if "Next" in state else []


def paths(states: dict[str, Any], start: str) -> list[list[str]]:
    """Every success path from `start` to an end, as state names (no state twice on a path)."""
    found: list[list[str]] = []
    stack: list[list[str]] = [[start]]
    while stack:
        path = stack.pop()
        nexts = [n for n in _successors(states[path[-1]]) if n not in path]
        if not nexts:
            found.append(path)
        stack.extend([*path, n] for n in nexts)
    return found


def _is_dynamodb_write(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return state["Type"] == "Task" and resource.endswith(("dynamodb:putItem", "dynamodb:transactWriteItems"))


def _table(state: dict[str, Any]) -> str:
    return str(state.get("Parameters", {}).get("TableName", ""))


def write_paths(asl: dict[str, Any]) -> list[list[str]]:
    """The DynamoDB writes of each success path of a reading that stores its prediction."""
    store = asl["States"]["StorePredictions"]
    body = store.get("ItemProcessor") or store["Iterator"]
    states = body["States"]
    writes = [[s for s in path if _is_dynamodb_write(states[s])] for path in paths(states, body["StartAt"])]
    return [w for w in writes if any(_table(states[s]) == PREDICTIONS_TABLE_PLACEHOLDER for s in w)]


def _prediction_attributes(asl: dict[str, Any]) -> tuple[str, ...]:
    store = asl["States"]["StorePredictions"]
    states = (store.get("ItemProcessor") or store["Iterator"])["States"]
    # PutCachedPrediction writes the same item plus its cached marker, for a cache hit only.
    puts = [
        s
        for name, s in states.items()
        if _is_dynamodb_write(s) and _table(s) == PREDICTIONS_TABLE_PLACEHOLDER and name != "PutCachedPrediction"
    ]
    if len(puts) != 1:
        raise ValueError(f"expected one write of the predictions table, found {len(puts)}")
    return tuple(puts[0]["Parameters"]["Item"])


def _model_calls(asl: dict[str, Any]) -> int:
    states = asl["States"]
    calls = {
        s
        for path in paths(states, asl["StartAt"])
        for s in path
        if str(states[s].get("Resource", "")).endswith("sagemakerruntime:invokeEndpoint")
    }
    return len(calls)


def _processor_parameters(template: dict[str, Any]) -> dict[str, str]:
    (stream,) = _resources_of_type(template, "AWS::KinesisFirehose::DeliveryStream")
    config = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    (processor,) = config["ProcessingConfiguration"]["Processors"]
    return {p["ParameterName"]: str(p["ParameterValue"]) for p in processor["Parameters"]}


def _lake_buffer_mb(template: dict[str, Any]) -> float:
    (stream,) = _resources_of_type(template, "AWS::KinesisFirehose::DeliveryStream")
    return float(stream["Properties"]["ExtendedS3DestinationConfiguration"]["BufferingHints"]["SizeInMBs"])


def _api(template: dict[str, Any]) -> dict[str, Any]:
    (api,) = [r for r in _resources_of_type(template, "AWS::Serverless::Api") if "AccessLogSetting" in r["Properties"]]
    props: dict[str, Any] = api["Properties"]
    return props


def facts(template_path: Path = TEMPLATE_PATH) -> Facts:
    """The counts and settings of the template at template_path and its inference ASL."""
    template = load_template(template_path)
    machine = template["Resources"][STATE_MACHINE]["Properties"]
    asl_text = (ROOT / machine["DefinitionUri"]).read_text()
    asl = json.loads(asl_text)
    writes = [len(w) for w in write_paths(asl)]
    processor = _processor_parameters(template)
    parameters = template["Parameters"]
    api = _api(template)
    return Facts(
        batch_limit=batch_limit(asl),
        map_concurrency=int(asl["States"]["StorePredictions"]["MaxConcurrency"]),
        model_calls_per_request=_model_calls(asl),
        writes_per_reading=min(writes),
        writes_per_reading_with_event_id=max(writes),
        prediction_attributes=_prediction_attributes(asl),
        definition_bytes=len(asl_text.encode()),
        express_logs_each_execution=machine["Logging"]["Level"] == "ALL",
        access_log_format=str(api["AccessLogSetting"]["Format"]),
        transform_buffer_mb=float(processor["BufferSizeInMBs"]),
        transform_buffer_seconds=float(processor["BufferIntervalInSeconds"]),
        lake_buffer_mb=_lake_buffer_mb(template),
        lake_buffer_seconds=float(parameters["LakeBufferSeconds"]["Default"]),
        lambda_memory_mb=int(template["Globals"]["Function"]["MemorySize"]),
        alarms=len(_resources_of_type(template, "AWS::CloudWatch::Alarm")),
        dashboards=len(_resources_of_type(template, "AWS::CloudWatch::Dashboard")),
        athena_cutoff_bytes=int(parameters["AthenaBytesScannedCutoff"]["Default"]),
        api_tracing=bool(api.get("TracingEnabled", False)),
        key_rate_limit=float(parameters["ThrottleRateLimit"]["Default"]),
        key_burst_limit=float(parameters["ThrottleBurstLimit"]["Default"]),
    )
