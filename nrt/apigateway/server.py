"""The local HTTP API: the template's REST API (nrt/apigateway/rest_api.py) in front of the embedded AWS.

The gateway executes the API that template.yaml defines; this module supplies what stands
behind its integrations on this machine (Step Functions' StartSyncExecution and
StartExecution on the embedded AWS, the ListModels function) and serves it over HTTP on
127.0.0.1, with two local-only extras: GET /status (what `nrt status` prints) and the
dashboard page.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from functions.list_models.models import list_models, proxy_reply
from functions.predict.adapters import DynamoCache, DynamoTables, HeldModels
from functions.predict.serving import Predict, WorkflowRefused, failed
from nrt import emulator
from nrt.apigateway.contract import answer_from_execution
from nrt.apigateway.executions import Executions, aws_error, json_default
from nrt.apigateway.rest_api import MAX_PAYLOAD_BYTES, GatewayError, Reply, RestApi, request_context, same_key
from nrt.emulator.registry import SPEEDUPS_SETTING
from nrt.emulator.server import EmbeddedAws, local_model_bucket
from nrt.emulator.speed import InProcessClient
from nrt.http11 import ErrorReply, Handler, Limits, Request, Server
from nrt.state.space import Full
from nrt.state.store import StoreUnavailable
from nrt.statedir import API_PORT
from nrt.template import LocalContext, load_template

LOG = logging.getLogger("nrt.apigateway.server")

Status = Callable[[], dict[str, Any]]
Page = Callable[[], str]
# Whether the disk under the state can keep writes now (nrt/state/space.py): None when it can.
DiskFull = Callable[[], Full | None]

# The routes that write: on a full disk they are refused before anything is accepted.
WRITES = frozenset({"/predictions", "/events"})


@dataclass
class LocalServices:
    """What the template's integrations call, on this machine."""

    executions: Executions
    functions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]

    def call(self, service: str, action: str, request: dict[str, Any]) -> tuple[int, bytes]:
        if (service, action) not in {("states", "StartSyncExecution"), ("states", "StartExecution")}:
            return aws_error(400, "UnknownOperationException", f"{service}:{action} is not served locally")
        # Each route's machine, as the API's role allows (the journal runs accepted events on /events' one).
        machine = (
            self.executions.aws.state_machine_arn
            if action == "StartSyncExecution"
            else self.executions.aws.events_state_machine_arn
        )
        if request.get("stateMachineArn") != machine:
            return aws_error(
                400, "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{request.get('stateMachineArn')}'"
            )
        execution_input = request.get("input", "{}")
        try:
            if action == "StartSyncExecution":
                result = self.executions.start_sync_execution(execution_input, request.get("name"))
            else:
                result = self.executions.start_execution(execution_input, request.get("name"))
        except emulator.aws_errors() as exc:
            return emulator.error_answer(exc)
        return 200, json.dumps(result, default=json_default).encode()

    def invoke(self, function_arn: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.functions[function_arn](event)


def local_context(aws: EmbeddedAws) -> LocalContext:
    """The embedded stack's names, with the API's own references (its role, its function)."""
    ctx = aws.ctx
    refs = {
        **ctx.refs,
        "ApiRole": f"arn:aws:iam::{ctx.account}:role/{ctx.stack_name}-api",
        "ListModelsFunction": list_models_arn(ctx),
        "PredictFunction": f"{ctx.stack_name}-predict",
    }
    return LocalContext(ctx.stack_name, ctx.region, ctx.account, dict(ctx.parameters), refs)


def list_models_arn(ctx: LocalContext) -> str:
    return f"arn:aws:lambda:{ctx.region}:{ctx.account}:function:{ctx.stack_name}-list-models"


def predict_function_arn(ctx: LocalContext) -> str:
    return f"arn:aws:lambda:{ctx.region}:{ctx.account}:function:{ctx.stack_name}-predict"


@dataclass
class LocalWorkflow:
    """The PredictFunction's StartSyncExecution, on the embedded AWS's inference workflow."""

    executions: Executions

    def start_sync_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("stateMachineArn") != self.executions.aws.state_machine_arn:
            raise WorkflowRefused("StateMachineDoesNotExist", 400)
        try:
            return self.executions.start_sync_execution(request.get("input", "{}"), request.get("name"))
        except emulator.aws_errors() as exc:
            status, body = emulator.error_answer(exc)
            raise WorkflowRefused(str(json.loads(body)["__type"]), status) from None


def in_process_dynamodb(aws: EmbeddedAws) -> Any:
    """The embedded DynamoDB as the workflow's own tasks reach it (nrt/emulator/speed.py): in this
    process, not over HTTP, where each write would wait for its own commit; the function's
    answer waits once for all of them instead. Over HTTP with the speed-ups off."""
    if os.environ.get(SPEEDUPS_SETTING) == "0":
        return aws.client("dynamodb")
    return InProcessClient(boto3.client("dynamodb", region_name=aws.ctx.region, aws_access_key_id="local",
                                        aws_secret_access_key="local"))  # fmt: skip


def predict_function(executions: Executions) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The latency tier's front function (functions/predict), in process on the embedded AWS: a
    Lambda-tier answer waits until what it wrote is kept, as a workflow's does."""
    aws = executions.aws
    refs = aws.ctx.refs
    ddb = in_process_dynamodb(aws)
    tables = DynamoTables(ddb, refs["PredictionsTable"], refs["EventIdsTable"], refs["FailuresTable"])
    models = HeldModels(aws.client("s3"), local_model_bucket(aws.ctx), log=LOG.warning)
    cache = DynamoCache(ddb, refs["CacheTable"])
    predict = Predict(aws.prefix, tables, LocalWorkflow(executions), models, cache=cache)

    def function(event: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        execution = predict.execution(event)
        if execution is None:
            return predict.forward(event)
        result = execution.run()
        try:
            if executions.committer is not None:
                executions.committer.sync()
        except StoreUnavailable as failure:
            result = failed({"status": 503, "error": "StoreUnavailable", "message": str(failure)[:160]})
        answer = answer_from_execution(result["status"], result.get("output"), result.get("cause"))
        executions.health.record(answer.status, time.monotonic() - started, len(execution.readings))
        return result

    return function


def make_api(executions: Executions, api_key: str | None = None) -> RestApi:
    """The template's REST API, wired to the embedded AWS."""
    aws = executions.aws

    def list_models_function(_: dict[str, Any]) -> dict[str, Any]:
        # The function's logic, in process; a Failed model says why (DescribeEndpoint's FailureReason).
        sm = aws.client("sagemaker")
        found = list_models(sm, aws.prefix)
        for model in found:
            if model["status"] == "Failed":
                model["reason"] = sm.describe_endpoint(EndpointName=model["endpoint"]).get("FailureReason")
        return proxy_reply(aws.prefix, found)

    ctx = local_context(aws)
    functions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {list_models_arn(ctx): list_models_function}
    if ctx.parameter_values(load_template()).get("LatencyTier") == "Enabled":
        functions[predict_function_arn(ctx)] = predict_function(executions)
    services = LocalServices(executions, functions)
    return RestApi.from_template(ctx, services, api_key)


# The contract's error names for what HTTP's own rules refuse (nrt/http11.py).
HTTP_ERRORS = {
    400: "BadRequest",
    408: "RequestTimeout",
    411: "LengthRequired",
    414: "URITooLong",
    431: "HeadersTooLarge",
    505: "HTTPVersionNotSupported",
}


def disk_full_reply(full: Full) -> Reply:
    """503 with Retry-After: the disk under the state is full, and nothing was accepted (local only)."""
    body = {"status": 503, "error": "DiskFull", "message": full.message()}
    headers = {"Content-Type": "application/json", "Retry-After": str(full.retry_after)}
    return Reply(503, json.dumps(body).encode(), headers)


def guard_writes(api: RestApi, disk_full: DiskFull) -> Callable[[Request, str], Reply]:
    """A write route behind the disk's state: refused with 503 DiskFull before it runs while the
    disk is full, and a refusal it meets while running (the disk filled meanwhile: a 429 from
    the journal, a 503 from the store) answered the same way."""

    def write(request: Request, path: str) -> Reply:
        key = request.header("x-api-key")
        if api.api_key is not None and not same_key(key, api.api_key):
            return api.handle(request.method, path, request.headers, request.body)  # its 403
        if (full := disk_full()) is not None:
            return disk_full_reply(full)
        reply = api.handle(request.method, path, request.headers, request.body)
        if (reply.status == 429 or reply.status >= 500) and (full := disk_full()) is not None:
            return disk_full_reply(full)
        return reply

    return write


def make_handler(
    api: RestApi,
    status: Status | None = None,
    pages: dict[str, Page] | None = None,
    disk_full: DiskFull | None = None,
) -> tuple[Handler, ErrorReply]:
    """The local API over HTTP: (what answers a request, what answers one HTTP refuses)."""
    local_pages: dict[str, Page] = pages or {}
    write = guard_writes(api, disk_full) if disk_full is not None else None

    def page(path: str, make: Page) -> Reply:
        try:
            return Reply(200, make().encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})
        except Exception as exc:
            LOG.exception("page %s failed", path)
            data = f"<!doctype html><p>This page could not be made: {html.escape(str(exc))}</p>".encode()
            return Reply(500, data, {"Content-Type": "text/html; charset=utf-8"})

    def handle(request: Request) -> Reply:
        method = request.method
        path = request.target.split("?", 1)[0].rstrip("/") or "/"
        if method == "GET" and path in local_pages:
            # Local pages (the dashboard) are for a browser on this machine, which cannot
            # send an API key; they only show aggregates of the local lake.
            return page(path, local_pages[path])
        try:
            if method == "GET" and path == "/status" and status is not None:
                # Local only (the deployed stack has CloudWatch); the same key as the API.
                key = request.header("x-api-key")
                if api.api_key is not None and not same_key(key, api.api_key):
                    return api.gateway_response(GatewayError("INVALID_API_KEY"), request_context("GET", path))
                return Reply(200, json.dumps(status()).encode())
            if method == "POST" and path in WRITES and write is not None:
                reply = write(request, path)
            else:
                reply = api.handle(method, path, request.headers, request.body)
        except Exception:
            LOG.exception("%s %s failed", method, path)
            return api.gateway_response(GatewayError("API_CONFIGURATION_ERROR"), request_context(method, path))
        if reply.detail:
            # The answer says only "Invalid request body", as on AWS; the reason goes to the
            # log, as API Gateway's execution log has it.
            LOG.info("%s %s: request body does not match the model: %s", method, path, reply.detail)
        return reply

    def refused(code: int, message: str) -> Reply:
        if code == 413:
            # Over API Gateway's 10 MB: its own answer, which REST APIs cannot customise.
            return api.gateway_response(GatewayError("REQUEST_TOO_LARGE"), request_context("POST", "/"))
        body = {"status": code, "error": HTTP_ERRORS.get(code, "BadRequest"), "message": message}
        return Reply(code, json.dumps(body).encode())

    return handle, refused


class LocalApi(Server):
    """The local API's HTTP server (nrt/http11.py)."""


def serve_api(
    executions: Executions,
    host: str = "127.0.0.1",
    port: int = API_PORT,
    api_key: str | None = None,
    pages: dict[str, Page] | None = None,
    status: Status | None = None,
    disk_full: DiskFull | None = None,
) -> LocalApi:
    """Start the local API in a background thread; returns the server (call shutdown())."""
    handle, refused = make_handler(make_api(executions, api_key), status, pages, disk_full)
    server = LocalApi((host, port), handle, refused, Limits(max_body=MAX_PAYLOAD_BYTES), name="local-api")
    return server.start()
