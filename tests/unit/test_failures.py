"""nrt/ops/failures.py: reading the failure store and replaying what can succeed now."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from nrt.cli.failures import replay_url
from nrt.ops.failures import Failure, from_item, replay, replay_body, succeeded, table, to_item
from nrt.ops.stacks import Stack
from nrt.statedir import StackRecord, StateDir, write_stack_record


def item(failure_id: str, status: int, request: dict, model: str = "pump") -> dict:
    return {
        "failure_id": {"S": failure_id},
        "status": {"N": str(status)},
        "error": {"S": "ModelNotFound"},
        "cause": {"S": "{}"},
        "model": {"S": model},
        "failed_at": {"S": f"2026-11-22T10:00:0{len(failure_id) % 10}Z"},
        "request": {"S": json.dumps(request)},
    }


READING = {"sensor": "s", "model": "pump", "timestamp": 1795342530000, "data": [12, 87, 20]}


def test_an_item_reads_back_as_a_failure_with_its_original_request():
    failure = from_item(item("exec-1", 404, READING))

    assert (failure.failure_id, failure.status, failure.request, failure.replayable) == ("exec-1", 404, READING, True)


def test_only_404_429_and_503_are_replayable():
    assert [from_item(item("x", s, READING)).replayable for s in (400, 404, 409, 429, 503)] == [
        False,
        True,
        False,
        True,
        True,
    ]


def test_an_outcome_the_outcomes_workflow_could_not_store_is_kept_for_people_never_replayed_as_a_reading():
    outcome = {**item("exec-9:0", 503, {"event_id": "e-1", "outcome": 1}), "error": {"S": "OutcomeNotStored"}}

    assert from_item(outcome).replayable is False


def test_a_reading_from_a_batch_is_replayed_with_its_model():
    reading = {"sensor": "s", "timestamp": 1, "data": [1, 2, 3]}

    assert replay_body(from_item(item("x", 503, reading, model="pump"))) == {**reading, "model": "pump"}
    assert replay_body(from_item(item("x", 503, READING))) == READING


def test_a_batch_succeeds_only_when_every_reading_did():
    assert succeeded(200, {"prediction": 1})
    assert succeeded(200, {"results": [{"prediction": 1}, {"prediction": 0}]})
    assert not succeeded(200, {"results": [{"prediction": 1}, {"status": 503, "error": "StoreUnavailable"}]})
    assert not succeeded(404, {"error": "ModelNotFound"})


def test_replay_sends_the_replayable_removes_the_successes_and_keeps_the_rest():
    failures = [
        from_item(item("ok", 404, READING)),
        from_item(item("again", 503, {**READING, "sensor": "t"})),
        from_item(item("rejected", 400, {**READING, "data": [1, 2]})),
    ]
    sent: list[dict] = []
    deleted: list[str] = []

    def post(body: dict) -> tuple[int, dict]:
        sent.append(body)
        return (200, {"prediction": 1}) if body["sensor"] == "s" else (504, {"error": "Timeout"})

    summary = replay(failures, post, deleted.append, lambda _: None)

    assert [b["sensor"] for b in sent] == ["s", "t"]
    assert deleted == ["ok"]  # the timeout never reached the store: its record stays
    assert (summary.replayed, summary.succeeded, summary.failed_again, summary.skipped) == (2, 1, 1, 1)


def test_a_replay_the_workflow_records_again_replaces_the_old_record_so_one_failure_keeps_one():
    failures = [from_item(item(name, 503, {**READING, "sensor": name})) for name in ("model", "store", "batch", "api")]
    answers = {
        "model": (503, {"status": 503, "error": "ModelUnavailable"}),
        "store": (503, {"status": 503, "error": "StoreUnavailable"}),
        "batch": (200, {"results": [{"prediction": 1}, {"status": 503, "error": "StoreUnavailable"}]}),
        "api": (503, {"status": 503, "error": "ServiceUnavailable"}),  # Step Functions 5xx: nothing recorded
    }
    deleted: list[str] = []

    replay(failures, lambda body: answers[body["sensor"]], deleted.append, lambda _: None)

    assert deleted == ["model", "store", "batch"]


def test_the_listing_marks_what_can_be_replayed():
    out = table([from_item(item("exec-1", 404, READING)), from_item(item("exec-22", 400, READING))])

    assert "yes    exec-1" in out and "no     exec-22" in out
    assert out.endswith("(2 failures)")


def test_the_listing_shows_the_whole_error_and_cause():
    refused = item("exec-3", 400, READING)
    refused["error"] = {"S": "SageMakerRuntime.ModelErrorException"}
    cause = "client error (400): feature 'channel': \"mall\" is not a known category (app, store, web)" + " ." * 80
    refused["cause"] = {"S": cause}

    out = table([from_item(refused)])

    assert "    error: SageMakerRuntime.ModelErrorException\n" in out
    assert f"    cause: {cause}\n" in out  # whole, where the feature is named


def test_a_refusal_reads_back_and_lists_with_the_feature_it_names():
    refused = item("exec-4:1", 400, READING)
    refused["error"], refused["feature"] = {"S": "InvalidReading"}, {"S": '"channel"'}
    unnamed = {**item("exec-5:0", 400, READING), "feature": {"S": "null"}}

    failure = from_item(refused)

    assert (failure.feature, from_item(unnamed).feature) == ("channel", None)
    assert "    feature: channel\n" in table([failure])
    assert from_item(to_item(failure)) == failure


def test_a_corrupt_request_reads_as_an_empty_one():
    broken = item("x", 503, READING)
    broken["request"] = {"S": "{not json"}

    assert from_item(broken) == Failure("x", 503, "ModelNotFound", "pump", broken["failed_at"]["S"], {}, "{}")


class FakeStore:
    """The failure store's DynamoDB client as `nrt failures` uses it: one page of items, deletes noted."""

    def __init__(self, items: list[dict]) -> None:
        self.items, self.deleted = items, []

    def get_paginator(self, _operation: str):
        return self

    def paginate(self, **_kwargs):
        return [{"Items": self.items}]

    def delete_item(self, TableName: str, Key: dict) -> None:
        self.deleted.append(Key["failure_id"]["S"])


@pytest.fixture
def api():
    """A stand-in API that answers every POST with a prediction and notes where it was sent."""
    posted: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            posted.append(self.path)
            body = b'{"prediction": 1}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", posted
    server.shutdown()
    server.server_close()


@pytest.fixture
def embedded_aws():
    """Something listening where the embedded AWS would (what `nrt failures` probes): its port."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def run_failures(monkeypatch: pytest.MonkeyPatch, store: FakeStore, *argv: str) -> int:
    """`nrt failures ARGV` with the stack found as the command finds it, its DynamoDB the fake store."""
    from nrt.cli import build_parser
    from nrt.cli import failures as cli_failures

    found = cli_failures.stack_of
    monkeypatch.setattr(cli_failures, "stack_of", lambda args: replace(found(args), clients=lambda _service: store))
    args = build_parser().parse_args(["failures", *argv])
    return int(args.func(args))


def test_replay_goes_to_the_api_the_state_dir_records_for_the_aws_port_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api, embedded_aws
) -> None:
    url, posted = api
    write_stack_record(StateDir(tmp_path), StackRecord(url, f"http://127.0.0.1:{embedded_aws}", os.getpid(), False))
    store = FakeStore([item("exec-1", 503, READING)])

    status = run_failures(monkeypatch, store, "replay", "--state-dir", str(tmp_path), "--aws-port", str(embedded_aws))

    assert (status, posted, store.deleted) == (0, ["/predictions"], ["exec-1"])  # not the default port 3000


def test_replay_by_an_aws_port_the_state_dir_does_not_record_asks_for_url_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], api, embedded_aws
) -> None:
    url, posted = api
    store = FakeStore([item("exec-1", 503, READING)])
    flags = ["--state-dir", str(tmp_path), "--aws-port", str(embedded_aws)]  # that stack.json records no stack

    assert run_failures(monkeypatch, store, "replay", *flags) == 1
    error = capsys.readouterr().err
    assert f"--aws-port {embedded_aws} is unknown" in error and "pass --url" in error
    assert (posted, store.deleted) == ([], [])

    assert run_failures(monkeypatch, store, "list", *flags) == 0  # listing needs no API
    assert "exec-1" in capsys.readouterr().out

    assert run_failures(monkeypatch, store, "replay", *flags, "--url", url) == 0
    assert (posted, store.deleted) == (["/predictions"], ["exec-1"])


def test_replay_url_is_the_flag_else_the_stack_s_api() -> None:
    deployed = Stack("s", "eu-west-1", {"ApiUrl": "https://api.example/prod"}, lambda _s: None, False)  # type: ignore[arg-type,return-value]
    args = argparse.Namespace(url=None, aws_port=None, state_dir=".nrt")

    assert replay_url(args, deployed) == "https://api.example/prod"
    assert replay_url(argparse.Namespace(url="http://h:1", aws_port=9, state_dir=".nrt"), deployed) == "http://h:1"


def test_replay_to_an_api_that_does_not_answer_says_so_and_keeps_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], embedded_aws
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    store = FakeStore([item("exec-1", 503, READING), item("exec-2", 404, READING)])

    status = run_failures(
        monkeypatch, store, "replay", "--state-dir", str(tmp_path), "--aws-port", str(embedded_aws), "--url", nobody
    )

    assert (status, store.deleted) == (1, [])
    error = capsys.readouterr().err
    assert f"cannot reach {nobody}/predictions" in error and "Traceback" not in error


def test_the_listing_keeps_its_columns_whatever_the_length_of_the_time():
    short, long_ = item("exec-6", 404, READING), item("exec-7", 503, READING)
    short["failed_at"], long_["failed_at"] = (
        {"S": "2026-12-05T19:11:44.761Z"},
        {"S": "2026-12-05T19:11:44.761163+00:00"},
    )

    lines = table([from_item(short), from_item(long_)]).splitlines()
    header, first, second = [line for line in lines if not line.startswith("    ")][:3]

    assert header.index("status") + len("status") == first.index("404") + 3 == second.index("503") + 3
