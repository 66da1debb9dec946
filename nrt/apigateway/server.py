"""The local HTTP API: the template's REST API (nrt/apigateway/rest_api.py) in front of the embedded AWS.

The gateway executes the API that template.yaml defines; this module supplies what stands
behind its integrations on this machine (Step Functions' StartSyncExecution and
StartExecution on the embedded AWS, the ListModels function) and serves it over HTTP on
127.0.0.1, with two local-only extras: GET /status (what `nrt status` prints) and the
dashboard page.
"""

from __future__ import annotations

import datetime
import html
import json
import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from functions.list_models.models import list_models, proxy_reply
from nrt import emulator
from nrt.apigateway.contract import Answer, answer_from_execution
from nrt.apigateway.rest_api import MAX_PAYLOAD_BYTES, GatewayError, Reply, RestApi, request_context, same_key
from nrt.emulator.server import EmbeddedAws
from nrt.emulator.wiring import TableChanges
from nrt.health import Health
from nrt.http11 import ErrorReply, Handler, Limits, Request, Server
from nrt.ops.failures import Failure, to_item
from nrt.state.store import Store, StoreUnavailable
from nrt.statedir import API_PORT
from nrt.template import LocalContext

LOG = logging.getLogger("nrt.apigateway.server")

Status = Callable[[], dict[str, Any]]
Page = Callable[[], str]


def aws_error(status: int, type_: str, message: str) -> tuple[int, bytes]:
    """An AWS JSON-protocol error answer."""
    return status, json.dumps({"__type": type_, "message": message}).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON")


# Runs of one accepted event before it goes to the failure store instead.
EVENT_ATTEMPTS = 3


@dataclass
class Inference:
    """Step Functions for the local API: StartSyncExecution runs the /predictions workflow in
    the calling thread; StartExecution keeps the event in the store's journal (when there is a
    store), then queues it for a pool of workers that run the /events workflow (as AWS runs it
    in the background). An event leaves the journal when its execution has run, whatever its
    outcome (the workflow records its own failures): what a stop or a crash cut short runs at
    the next start (resume())."""

    aws: EmbeddedAws
    health: Health = field(default_factory=Health)
    async_workers: int = 4
    # Accepted and not yet run, at most: beyond it StartExecution is throttled (429).
    async_queue_size: int = 10_000
    store: Store | None = None
    # Keeps the tables' changes: an answer waits until what its execution wrote is kept.
    committer: TableChanges | None = None
    _queue: queue.Queue[tuple[str, str]] = field(init=False)
    _accepting: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue = queue.Queue()
        for i in range(self.async_workers):
            worker = threading.Thread(target=self._drain, name=f"events-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def start_sync_execution(self, execution_input: str, name: str | None = None) -> dict[str, Any]:
        """StartSyncExecution's answer, once what the execution wrote is kept; records the
        outcome's HTTP status in the health window."""
        started = time.monotonic()
        try:
            result = self._execute(self.aws.state_machine_arn, execution_input, name)
        except StoreUnavailable as failure:
            cause = {"status": 503, "error": "StoreUnavailable", "message": str(failure)[:160]}
            result = {"status": "FAILED", "error": "StoreUnavailable", "cause": json.dumps(cause)}
        answer = answer_from_execution(result["status"], result.get("output"), result.get("cause"))
        batch = json.loads(execution_input).get("readings")
        self.health.record(answer.status, time.monotonic() - started, len(batch) if isinstance(batch, list) else 1)
        return result

    def _execute(self, arn: str, execution_input: str, name: str | None) -> dict[str, Any]:
        """Run a workflow; return once the changes it made are kept (StoreUnavailable if not)."""
        result = emulator.start_sync_execution(
            arn, execution_input, name, account=self.aws.ctx.account, region=self.aws.ctx.region
        )
        if self.committer is not None:
            self.committer.sync()
        return result

    def start_execution(self, execution_input: str, name: str | None = None) -> dict[str, Any]:
        """StartExecution: kept and queued, or ThrottlingException when the queue is full or
        the journal cannot be written (never accepted without being kept)."""
        name = name or str(uuid.uuid4())
        emulator.check_execution_name(name)
        emulator.check_execution_input(execution_input)
        with self._accepting:
            if self._stopping.is_set():
                raise emulator.throttling("Rate exceeded: the local stack is stopping")
            if self.pending >= self.async_queue_size:
                raise emulator.throttling("Rate exceeded: the local event queue is full")
            if self.store is not None:
                try:
                    self.store.accept(name, execution_input, time.time())
                except sqlite3.IntegrityError:
                    raise emulator.execution_exists(name) from None
                except (sqlite3.Error, OSError) as failure:
                    raise emulator.throttling(
                        f"Rate exceeded: the event journal cannot be written ({failure})"
                    ) from None
            self._queue.put((name, execution_input))
        arn = self.aws.events_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return {"executionArn": arn, "startDate": datetime.datetime.now(tz=datetime.UTC)}

    def resume(self) -> int:
        """Queue every event the journal holds (accepted before a stop or a crash); how many."""
        if self.store is None:
            return 0
        held = self.store.accepted()
        for event in held:
            self._queue.put(event)
        return len(held)

    def submit(self, body: dict[str, Any]) -> Answer:
        """Accept one request body for the background (what POST /events does)."""
        try:
            started = self.start_execution(json.dumps(body))
        except emulator.aws_errors():
            return Answer(429, {"status": 429, "error": "ServiceThrottled", "message": "the event queue is full"})
        return Answer(202, {"id": started["executionArn"].rsplit(":", 1)[1], "status": "accepted"})

    def _drain(self) -> None:
        while not self._stopping.is_set():
            try:
                name, execution_input = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._run_event(name, execution_input)
            finally:
                self._queue.task_done()

    def _run_event(self, name: str, execution_input: str) -> None:
        """Run one accepted event. The workflow records its own failures; what is handled here
        is the runtime failing to run it: stopping (it stays in the journal for the next
        start), or an error (tried again after a second or two, and after the last attempt,
        or when the process died running it as many times, recorded in the failure store)."""
        attempt = self.store.attempt(name) if self.store is not None else 1
        if attempt > EVENT_ATTEMPTS:
            self._give_up(name, execution_input, f"{EVENT_ATTEMPTS} runs ended with the process")
            return
        try:
            self._execute(self.aws.events_state_machine_arn, execution_input, name)
        except Exception as error:
            if self._stopping.is_set():
                return
            LOG.exception("event %s could not be run (attempt %d of %d)", name, attempt, EVENT_ATTEMPTS)
            if attempt >= EVENT_ATTEMPTS:
                self._give_up(name, execution_input, f"{type(error).__name__}: {error}")
            else:
                threading.Timer(float(attempt), self._queue.put, ((name, execution_input),)).start()
            return
        if self.store is not None:
            self.store.done(name)

    def _give_up(self, name: str, execution_input: str, reason: str) -> None:
        """Record an event that could not be run in the failure store (replayable, as a 503),
        then drop it from the journal; if even that fails, it stays for the next start."""
        try:
            request = json.loads(execution_input)
        except ValueError:
            request = {}
        request = request if isinstance(request, dict) else {}
        failure = Failure(
            failure_id=name,
            status=503,
            error="EventNotRun",
            model=str(request.get("model", "")),
            failed_at=datetime.datetime.now(tz=datetime.UTC).isoformat(),
            request=request,
            cause=f"the local runtime could not run this event: {reason}"[:1000],
        )
        try:
            self.aws.client("dynamodb").put_item(TableName=self.aws.ctx.refs["FailuresTable"], Item=to_item(failure))
            if self.committer is not None:
                self.committer.sync()
        except Exception:
            LOG.exception("event %s could not be recorded as failed; it stays in the journal", name)
            return
        LOG.error("event %s was recorded in the failure store: %s", name, failure.cause)
        if self.store is not None:
            self.store.done(name)

    @property
    def pending(self) -> int:
        """Accepted events (202) whose execution has not finished yet."""
        return self._queue.unfinished_tasks

    def finish(self, timeout: float) -> int:
        """Wait until every accepted event has run; returns how many had not when the timeout
        ran out."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.pending

    def stop(self, timeout: float = 5.0) -> int:
        """Accept nothing more; let the executions in flight end (up to timeout). Returns how
        many accepted events did not run: with a store they stay journaled for the next start."""
        with self._accepting:
            self._stopping.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return self.pending


@dataclass
class LocalServices:
    """What the template's integrations call, on this machine."""

    inference: Inference
    functions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]

    def call(self, service: str, action: str, request: dict[str, Any]) -> tuple[int, bytes]:
        if (service, action) not in {("states", "StartSyncExecution"), ("states", "StartExecution")}:
            return aws_error(400, "UnknownOperationException", f"{service}:{action} is not served locally")
        # Each route's machine, as the API's role allows (the journal runs accepted events on /events' one).
        machine = (
            self.inference.aws.state_machine_arn
            if action == "StartSyncExecution"
            else self.inference.aws.events_state_machine_arn
        )
        if request.get("stateMachineArn") != machine:
            return aws_error(
                400, "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{request.get('stateMachineArn')}'"
            )
        execution_input = request.get("input", "{}")
        try:
            if action == "StartSyncExecution":
                result = self.inference.start_sync_execution(execution_input, request.get("name"))
            else:
                result = self.inference.start_execution(execution_input, request.get("name"))
        except emulator.aws_errors() as exc:
            return emulator.error_answer(exc)
        return 200, json.dumps(result, default=_json_default).encode()

    def invoke(self, function_arn: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.functions[function_arn](event)


def local_context(aws: EmbeddedAws) -> LocalContext:
    """The embedded stack's names, with the API's own references (its role, its function)."""
    ctx = aws.ctx
    refs = {
        **ctx.refs,
        "ApiRole": f"arn:aws:iam::{ctx.account}:role/{ctx.stack_name}-api",
        "ListModelsFunction": list_models_arn(ctx),
    }
    return LocalContext(ctx.stack_name, ctx.region, ctx.account, dict(ctx.parameters), refs)


def list_models_arn(ctx: LocalContext) -> str:
    return f"arn:aws:lambda:{ctx.region}:{ctx.account}:function:{ctx.stack_name}-list-models"


def make_api(inference: Inference, api_key: str | None = None) -> RestApi:
    """The template's REST API, wired to the embedded AWS."""
    aws = inference.aws

    def list_models_function(_: dict[str, Any]) -> dict[str, Any]:
        # The function's logic, in process; a Failed model says why (DescribeEndpoint's FailureReason).
        sm = aws.client("sagemaker")
        found = list_models(sm, aws.prefix)
        for model in found:
            if model["status"] == "Failed":
                model["reason"] = sm.describe_endpoint(EndpointName=model["endpoint"]).get("FailureReason")
        return proxy_reply(aws.prefix, found)

    ctx = local_context(aws)
    services = LocalServices(inference, {list_models_arn(ctx): list_models_function})
    return RestApi.from_template(ctx, services, api_key)


# The contract's error names for what HTTP's own rules refuse (nrt/http11.py).
HTTP_ERRORS = {
    400: "BadRequest",
    408: "RequestTimeout",
    411: "LengthRequired",
    414: "URITooLong",
    431: "HeadersTooLarge",
}


def make_handler(
    api: RestApi, status: Status | None = None, pages: dict[str, Page] | None = None
) -> tuple[Handler, ErrorReply]:
    """The local API over HTTP: (what answers a request, what answers one HTTP refuses)."""
    local_pages: dict[str, Page] = pages or {}

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
            return api.handle(method, path, request.headers, request.body)
        except Exception:
            LOG.exception("%s %s failed", method, path)
            return api.gateway_response(GatewayError("API_CONFIGURATION_ERROR"), request_context(method, path))

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
    inference: Inference,
    host: str = "127.0.0.1",
    port: int = API_PORT,
    api_key: str | None = None,
    pages: dict[str, Page] | None = None,
    status: Status | None = None,
) -> LocalApi:
    """Start the local API in a background thread; returns the server (call shutdown())."""
    handle, refused = make_handler(make_api(inference, api_key), status, pages)
    server = LocalApi((host, port), handle, refused, Limits(max_body=MAX_PAYLOAD_BYTES), name="local-api")
    return server.start()
