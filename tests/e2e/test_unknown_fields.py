"""A field the workflow does not read is refused by the local API before anything is accepted,
on /predictions and /events, one reading or a batch: a 400 with API Gateway's "Invalid request
body", no execution started, nothing stored or recorded. So no such field, however deep or
large, is copied through an execution or kept in an item (template.yaml's request models:
`additionalProperties: false`; feature values are scalars of bounded length)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from nrt.apigateway.executions import Executions
from nrt.apigateway.server import LocalApi, serve_api
from nrt.emulator.server import EmbeddedAws

READING = {"sensor": "edge-1", "timestamp": 1795342530000, "data": [12, 87, 20]}
REFUSED = {"status": 400, "error": "ValidationError", "message": "Invalid request body"}
ROUTES = ["/predictions", "/events"]
SHAPES = ["single", "batch"]


@dataclass
class CountingExecutions(Executions):
    """The local API's Step Functions, counting the executions it is asked to start."""

    started: list[str] = field(default_factory=list)

    def start_sync_execution(self, execution_input: str, name: str | None = None) -> dict[str, Any]:
        self.started.append(execution_input)
        return super().start_sync_execution(execution_input, name)

    def start_execution(self, execution_input: str, name: str | None = None) -> dict[str, Any]:
        self.started.append(execution_input)
        return super().start_execution(execution_input, name)


@pytest.fixture(scope="module")
def edge(aws: EmbeddedAws) -> Iterator[tuple[str, CountingExecutions]]:
    executions = CountingExecutions(aws)
    server: LocalApi = serve_api(executions, port=0)
    yield f"http://127.0.0.1:{server.server_address[1]}", executions
    server.shutdown()
    server.server_close()
    executions.stop()


def post(url: str, path: str, raw: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(f"{url}{path}", data=raw, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def items(aws: EmbeddedAws) -> tuple[int, int]:
    """(stored predictions, recorded failures)."""
    dynamodb = aws.client("dynamodb")
    counts = [
        dynamodb.scan(TableName=aws.ctx.refs[t], Select="COUNT")["Count"] for t in ("PredictionsTable", "FailuresTable")
    ]
    return int(counts[0]), int(counts[1])


def request(shape: str, reading: dict[str, Any]) -> dict[str, Any]:
    if shape == "single":
        return {"model": "edge", **reading}
    return {"model": "edge", "readings": [dict(READING, sensor="edge-2"), reading]}


def assert_refused_before_anything(
    aws: EmbeddedAws, edge: tuple[str, CountingExecutions], path: str, body: Any, deep: str = ""
) -> float:
    """POST the body (with `deep`, raw JSON, in place of the string "DEEP"); a 400 and nothing else."""
    url, executions = edge
    before = (len(executions.started), items(aws))
    raw = json.dumps(body).replace('"DEEP"', deep) if deep else json.dumps(body)
    started = time.monotonic()

    status, answer = post(url, path, raw.encode())

    took = time.monotonic() - started
    assert (status, answer) == (400, REFUSED)
    time.sleep(0.2)  # an /events execution would run in the background
    assert (len(executions.started), items(aws)) == before
    return took


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("shape", SHAPES)
def test_an_unknown_field_is_a_400_before_any_execution_starts(aws, edge, path, shape):
    assert_refused_before_anything(aws, edge, path, request(shape, {**READING, "note": "from the field"}))


@pytest.mark.parametrize("path", ROUTES)
def test_an_unknown_field_beside_the_batch_is_a_400_too(aws, edge, path):
    assert_refused_before_anything(aws, edge, path, {**request("batch", READING), "source": "gateway-7"})


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("shape", SHAPES)
def test_deep_nesting_is_a_400_in_an_unknown_field_and_in_a_feature(aws, edge, path, shape):
    # 900 levels: past the ~450 that broke the execution's state copying, within what JSON parses
    deep = '{"k": [' * 450 + "1" + "]}" * 450
    named = {k: v for k, v in READING.items() if k != "data"}
    assert_refused_before_anything(aws, edge, path, request(shape, {**READING, "extra": "DEEP"}), deep)
    assert_refused_before_anything(aws, edge, path, request(shape, {**named, "features": {"a": "DEEP"}}), deep)


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("shape", SHAPES)
def test_a_large_multibyte_field_is_a_400_at_once(aws, edge, path, shape):
    emoji = "\U0001f600" * 35_000  # 140,000 UTF-8 bytes, under the 64,000-character body limit here
    named = {k: v for k, v in READING.items() if k != "data"}

    took = assert_refused_before_anything(aws, edge, path, request(shape, {**READING, "comment": emoji}))
    took += assert_refused_before_anything(aws, edge, path, request(shape, {**named, "features": {"a": emoji}}))

    assert took < 4.0


@pytest.mark.parametrize("path", ROUTES)
def test_a_reading_with_only_known_fields_still_starts_its_execution(aws, edge, path):
    url, executions = edge
    before = len(executions.started)
    named = {k: v for k, v in READING.items() if k != "data"}

    for body in (request("single", READING), request("batch", {**named, "features": {"a": 1.5, "b": "x", "c": None}})):
        status, _ = post(url, path, json.dumps(body).encode())
        assert status in (404, 202)  # "edge" is not deployed: /predictions answers 404, /events accepts

    assert len(executions.started) == before + 2
