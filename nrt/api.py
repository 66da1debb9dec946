"""The local HTTP API: the deployed API's routes, contract and status codes on 127.0.0.1."""

from __future__ import annotations

import html
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from functions.list_models.app import list_models
from nrt import compat
from nrt.contract import (
    MAX_BODY_BYTES,
    Answer,
    RequestRejected,
    answer_from_execution,
    error,
    parse_body,
    validate_request,
)
from nrt.embedded import EmbeddedAws
from nrt.health import Health

LOG = logging.getLogger("nrt.api")


@dataclass
class Inference:
    """Runs the inference workflow on the embedded AWS, synchronously or in the background."""

    aws: EmbeddedAws
    health: Health = field(default_factory=Health)
    async_workers: int = 4
    async_queue_size: int = 10_000
    _queue: queue.Queue[tuple[str, dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self._queue = queue.Queue(self.async_queue_size)
        for i in range(self.async_workers):
            threading.Thread(target=self._drain, name=f"events-{i}", daemon=True).start()

    def run(self, body: dict[str, Any], name: str | None = None) -> Answer:
        """StartSyncExecution, then the one mapping from outcome to HTTP answer."""
        started = time.monotonic()
        result = compat.start_sync_execution(
            self.aws.state_machine_arn,
            json.dumps(body),
            name,
            account=self.aws.ctx.account,
            region=self.aws.ctx.region,
        )
        answer = answer_from_execution(result["status"], result.get("output"), result.get("cause"))
        batch = body.get("readings")
        self.health.record(answer.status, time.monotonic() - started, len(batch) if isinstance(batch, list) else 1)
        return answer

    def submit(self, body: dict[str, Any]) -> Answer:
        """StartExecution (asynchronous): 202 with the execution's id, or 429 when full."""
        name = uuid.uuid4().hex
        try:
            self._queue.put_nowait((name, body))
        except queue.Full:
            return error(429, "Throttled", "the event queue is full; retry with backoff")
        return Answer(202, {"id": name, "status": "accepted"})

    def _drain(self) -> None:
        while True:
            name, body = self._queue.get()
            try:
                self.run(body, name)
            except Exception:
                # The workflow records its own failures; this is the runtime failing to run it.
                LOG.exception("event %s could not be run", name)
            finally:
                self._queue.task_done()

    @property
    def pending(self) -> int:
        """Accepted events (202) whose execution has not finished yet."""
        return self._queue.unfinished_tasks

    def finish(self, timeout: float) -> int:
        """Wait until every accepted event has run (as StartExecution would have run them);
        returns how many had not finished when the timeout ran out."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.pending


Route = Callable[[bytes], Answer]


Status = Callable[[], dict[str, Any]]
# endpoint -> why its model cannot be served here (the local runtime's failed model hosts)
ModelProblems = Callable[[], dict[str, str]]


def make_routes(
    inference: Inference, status: Status | None = None, problems: ModelProblems | None = None
) -> dict[tuple[str, str], Route]:
    def predictions(raw: bytes) -> Answer:
        return inference.run(validate_request(parse_body(raw)))

    def events(raw: bytes) -> Answer:
        return inference.submit(validate_request(parse_body(raw)))

    def models(_: bytes) -> Answer:
        found = list_models(inference.aws.client("sagemaker"), inference.aws.prefix)
        failed = problems() if problems is not None else {}
        for model in found:
            if model["endpoint"] in failed:  # InService in SageMaker's eyes, but its model cannot start here
                model.update(status="Failed", available=False, reason=failed[model["endpoint"]])
        return Answer(200, {"prefix": inference.aws.prefix, "models": found})

    routes: dict[tuple[str, str], Route] = {
        ("POST", "/predictions"): predictions,
        ("POST", "/events"): events,
        ("GET", "/models"): models,
    }
    if status is not None:
        # Local only (the deployed stack has CloudWatch): what `nrt status` prints.
        routes[("GET", "/status")] = lambda _: Answer(200, status())
    return routes


Page = Callable[[], str]


def make_handler(
    routes: dict[tuple[str, str], Route], api_key: str | None, pages: dict[str, Page] | None = None
) -> type[BaseHTTPRequestHandler]:
    paths = {path for _, path in routes}
    local_pages: dict[str, Page] = pages or {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, a kept-alive peer's
        # delayed ACK stalls the second by ~40 ms.
        disable_nagle_algorithm = True
        server_version = "nrt-local-api"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, answer: Answer) -> None:
            data = json.dumps(answer.body).encode("utf-8")
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _page(self, page: Page) -> None:
            try:
                data = page().encode("utf-8")
                status = 200
            except Exception as exc:
                LOG.exception("page %s failed", self.path)
                data = f"<!doctype html><p>This page could not be made: {html.escape(str(exc))}</p>".encode()
                status = 500
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if method == "GET" and path in local_pages:
                # Local pages (the dashboard) are for a browser on this machine, which cannot
                # send an API key; they only show aggregates of the local lake.
                self._page(local_pages[path])
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                # Refuse without reading the body; the connection cannot be reused after that.
                self.close_connection = True
                self._reply(
                    error(
                        413,
                        "PayloadTooLarge",
                        f"request body is {length} bytes; the limit is {MAX_BODY_BYTES}",
                    )
                )
                return
            raw = self.rfile.read(length) if length else b""
            if api_key is not None and self.headers.get("x-api-key") != api_key:
                self._reply(Answer(403, {"message": "Forbidden"}))
                return
            route = routes.get((method, path))
            if route is None:
                if path in paths:
                    self._reply(error(405, "MethodNotAllowed", f"{method} is not allowed on {path}"))
                else:
                    self._reply(error(404, "NotFound", f"no route {method} {path}"))
                return
            try:
                self._reply(route(raw))
            except RequestRejected as rejected:
                self._reply(rejected.answer)
            except Exception:
                LOG.exception("%s %s failed", method, path)
                self._reply(error(500, "InternalError", "the local API failed; see the nrt up log"))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


class LocalApi(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def serve_api(
    inference: Inference,
    host: str = "127.0.0.1",
    port: int = 3000,
    api_key: str | None = None,
    pages: dict[str, Page] | None = None,
    status: Status | None = None,
    problems: ModelProblems | None = None,
) -> LocalApi:
    """Start the local API in a background thread; returns the server (call shutdown())."""
    server = LocalApi((host, port), make_handler(make_routes(inference, status, problems), api_key, pages))
    threading.Thread(target=server.serve_forever, name="local-api", daemon=True).start()
    return server
