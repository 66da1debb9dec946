"""End to end: `nrt up` in its own process, the producer against it, answers checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.stack import Stack, nrt_up
from tests.helpers import ROOT, free_port

NRT = [sys.executable, "-m", "nrt.cli"]


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    # As API Gateway requires: a body says it is JSON (urllib would say form data).
    sent = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=body, headers=sent, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with nrt_up(state=tmp_path_factory.mktemp("state")) as running:
        yield running


def test_up_prints_the_urls_on_loopback(stack):
    assert f"local API     {stack.url}" in stack.banner
    assert "embedded AWS  http://127.0.0.1:" in stack.banner
    assert (stack.state / "models" / "failure" / "model.joblib").exists()


def test_the_producer_streams_readings_and_every_one_is_answered(stack):
    result = subprocess.run(
        [sys.executable, "producer/producer.py", "--url", stack.url, "--count", "60", "--rate", "0",
         "--sensors", "3", "--json", "--seed", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["readings"] == 60
    assert summary["by_status"] == {"200": 60}
    assert summary["p99_ms"] > 0


def test_batches_of_50_are_answered_reading_by_reading(stack):
    result = subprocess.run(
        [*NRT, "produce", "--url", stack.url, "--count", "100", "--batch", "50", "--rate", "0", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["by_status"] == {"200": 2}


def failure_shaped(sensor: str, timestamp: int) -> dict[str, Any]:
    """A reading the default model scores as a failure."""
    return {"sensor": sensor, "model": "failure", "timestamp": timestamp, "data": [12, 87, 20]}


def test_a_prediction_answer_has_the_contracts_fields(stack):
    body = failure_shaped("e2e-1", 1_700_000_000_000)

    status, answer = request(stack.url + "/predictions", json.dumps(body).encode())

    assert status == 200
    assert {"event_id", "sensor", "model", "endpoint", "prediction", "probability"} <= set(answer)
    assert answer["endpoint"] == "nrt-failure"
    assert answer["prediction"] == 1


READING = b'{"sensor":"s","model":"%s","timestamp":1700000000000,"data":%s}'


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/predictions", b'{"sensor": "s"}', 400, "ValidationError"),
        ("/predictions", b"not json", 400, "ValidationError"),
        ("/predictions", READING % (b"failure", b"[NaN]"), 400, "ValidationError"),
        ("/predictions", READING % (b"absent", b"[1,2,3]"), 404, "ModelNotFound"),
        ("/predictions", READING % (b"failure", b"[1,2]"), 400, "InvalidReading"),  # the model names the feature count
        ("/predictions", READING % (b"failure", b"[" + b"1," * 33_000 + b"1]"), 413, "PayloadTooLarge"),
        ("/nowhere", b"{}", 403, "Forbidden"),  # API Gateway's answer for an unknown route
        ("/models", b"{}", 403, "Forbidden"),  # and for a method the route does not have
    ],
)  # fmt: skip
def test_the_local_api_answers_bad_requests_with_4xx_json(stack, path, body, status, error):
    got, answer = request(stack.url + path, body, {"Content-Type": "application/json"})

    assert got == status
    assert answer["error"] == error
    assert answer["message"]


def test_events_are_accepted_with_202_and_scored_in_the_background(stack):
    body = failure_shaped("async-1", 1_700_000_000_500)

    status, answer = request(stack.url + "/events", json.dumps(body).encode())
    assert status == 202
    assert answer["status"] == "accepted" and answer["id"]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        again, stored = request(stack.url + "/predictions", json.dumps(body).encode())
        if again == 200 and stored["duplicate"]:
            break
        time.sleep(0.2)
    assert stored["duplicate"] is True


def test_models_lists_the_default_model(stack):
    status, listing = request(stack.url + "/models")
    assert status == 200
    assert listing["prefix"] == "nrt-"
    assert {
        "model": "failure",
        "endpoint": "nrt-failure",
        "status": "InService",
        "available": True,
        "kind": "binary",
        "features": ["a", "b", "c"],
        "feature_count": 3,
        "unknown_categories": "refuse",
        "tier": "endpoint",
        "cache_seconds": 0,
    } in listing["models"]
    shown = subprocess.run([*NRT, "models", "--url", stack.url], cwd=ROOT, capture_output=True, text=True)
    assert shown.returncode == 0
    assert "failure" in shown.stdout and "binary" in shown.stdout and "a, b, c" in shown.stdout
    assert " off " in shown.stdout  # its prediction cache


def _predict_with(url: str, model: str, timeout: float) -> tuple[int, Any]:
    deadline = time.monotonic() + timeout
    body = json.dumps(
        {"sensor": "deploy-1", "model": model, "timestamp": int(time.time() * 1000), "data": [12, 87, 20]}
    )
    while True:
        status, answer = request(f"{url}/predictions", body.encode())
        if status == 200 or time.monotonic() > deadline:
            return status, answer
        time.sleep(0.25)


def test_a_model_deployed_with_local_is_served_by_the_running_stack_within_seconds(stack):
    state = stack.state
    trained = subprocess.run(
        [*NRT, "train", "e2e-pump", "--rows", "2000", "--state-dir", str(state)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    aws_port = stack.banner.split("embedded AWS  http://127.0.0.1:", 1)[1].split()[0]

    deployed = subprocess.run(
        [*NRT, "deploy-model", "e2e-pump", "--local", "--aws-port", aws_port, "--state-dir", str(state)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    started = time.monotonic()
    status, answer = _predict_with(stack.url, "e2e-pump", timeout=15)

    assert deployed.returncode == 0, deployed.stderr
    assert "created nrt-e2e-pump -> nrt-e2e-pump-" in deployed.stdout
    assert "nrt-e2e-pump: InService" in deployed.stdout
    assert status == 200, answer
    assert (answer["endpoint"], answer["prediction"]) == ("nrt-e2e-pump", 1)
    assert time.monotonic() - started < 15
    models = {m["model"]: m for m in request(f"{stack.url}/models")[1]["models"]}
    assert models["e2e-pump"]["status"] == "InService"


def test_retraining_by_hand_replaces_the_model_behind_the_endpoint_and_it_keeps_serving(stack):
    aws_port = stack.banner.split("embedded AWS  http://127.0.0.1:", 1)[1].split()[0]
    host_before = _host_of(stack, "nrt-e2e-pump")

    done = subprocess.run(
        [*NRT, "retrain", "e2e-pump", "--local", "--aws-port", aws_port],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "  Train\n" in done.stdout and "  QualityGate\n" in done.stdout
    assert "deployed: new roc_auc" in done.stdout
    deadline = time.monotonic() + 15
    while _host_of(stack, "nrt-e2e-pump") == host_before and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _host_of(stack, "nrt-e2e-pump") != host_before
    status, answer = _predict_with(stack.url, "e2e-pump", timeout=10)
    assert (status, answer["endpoint"]) == (200, "nrt-e2e-pump")


def _host_of(stack: dict[str, Any], endpoint: str) -> str:
    """The newest retrained version the stack has unpacked to serve for the endpoint."""
    versions = sorted((stack.state / "endpoints").glob(f"{endpoint}-r*"))
    return versions[-1].name if versions else ""


def test_failures_are_listed_and_replayed_once_the_model_exists(stack):
    state = stack.state
    aws_port = stack.banner.split("embedded AWS  http://127.0.0.1:", 1)[1].split()[0]
    now = int(time.time() * 1000)
    early = {"sensor": "replay-1", "model": "late-pump", "timestamp": now, "data": [12, 87, 20]}
    rejected = {"sensor": "replay-2", "model": "failure", "timestamp": now, "data": [1, 2]}
    assert request(f"{stack.url}/predictions", json.dumps(early).encode())[0] == 404
    assert request(f"{stack.url}/predictions", json.dumps(rejected).encode())[0] == 400
    failures = [*NRT, "failures", "--aws-port", aws_port, "--url", stack.url]

    listed = subprocess.run([*failures, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert listed.returncode == 0, listed.stderr
    mine = {
        f["request"]["sensor"]: f
        for f in json.loads(listed.stdout)
        if f["request"].get("sensor", "").startswith("replay-")
    }
    assert (mine["replay-1"]["status"], mine["replay-1"]["error"]) == (404, "SageMakerRuntime.ValidationErrorException")
    assert mine["replay-2"]["status"] == 400

    for step in (
        ["train", "late-pump", "--rows", "2000", "--state-dir", str(state)],
        ["deploy-model", "late-pump", "--local", "--aws-port", aws_port, "--state-dir", str(state)],
    ):
        assert subprocess.run([*NRT, *step], cwd=ROOT, capture_output=True, timeout=300).returncode == 0
    assert _predict_with(stack.url, "late-pump", timeout=15)[0] == 200

    replayed = subprocess.run([*failures, "replay"], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert "succeeded and were removed" in replayed.stdout, replayed.stdout + replayed.stderr
    after = json.loads(subprocess.run([*failures, "--json"], cwd=ROOT, capture_output=True, text=True).stdout)
    sensors = [f["request"].get("sensor") for f in after]
    assert "replay-1" not in sensors  # scored and stored now
    assert "replay-2" in sensors  # the model would reject it again: kept for a person
    stored = request(f"{stack.url}/predictions", json.dumps(early).encode())[1]
    assert stored["duplicate"] is True and stored["model"] == "late-pump"


def test_ctrl_c_stops_everything_cleanly(stack):
    proc = stack.process
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "a model host runs as a child process"

    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)

    assert proc.returncode == 0
    assert "stopping" in rest
    for child in children:
        assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()


def test_ctrl_c_while_it_starts_stops_it_once_started_without_a_traceback(tmp_path):
    from benchmarks.stack import seed_default_model

    seed_default_model(tmp_path)
    proc = subprocess.Popen(
        [*NRT, "up", "--api-port", str(free_port()), "--aws-port", str(free_port()), "--state-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)  # importing, starting the embedded AWS: seconds before the banner
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "Ctrl-C stops everything." in out and "stopping" in out


def test_up_with_an_api_key_refuses_requests_without_it(tmp_path):
    with nrt_up("--api-key", "s3cret", state=tmp_path) as secured:
        url = f"{secured.url}/models"
        assert request(url)[0] == 403
        assert request(url, headers={"x-api-key": "s3cret"})[0] == 200


def test_demo_streams_readings_prints_the_table_and_exits_0(tmp_path):
    env = dict(os.environ)
    result = subprocess.run(
        [*NRT, "demo", "--count", "40", "--api-port", str(free_port()), "--aws-port", str(free_port()),
         "--state-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "sensor       readings failures   p50 ms   p99 ms" in result.stdout
    assert "OK: all 40 readings answered and in the lake" in result.stdout
    assert "lake: all 40 predictions are in" in result.stdout
    assert "== athena/label_rate_per_minute.sql" in result.stdout
    assert (tmp_path / "dashboard.html").exists()
    assert "training the default model" in result.stdout


def test_a_port_in_use_is_a_clear_error_not_a_traceback(stack, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*NRT, "up", "--api-port", str(free_port()), "--aws-port", str(port), "--state-dir", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode != 0
    assert "cannot start the local stack" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_writes_a_model_the_host_can_serve(tmp_path):
    result = subprocess.run(
        [*NRT, "train", "tiny", "--rows", "3000", "--state-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "roc_auc" in result.stdout
    assert (tmp_path / "models" / "tiny" / "model.joblib").exists()
    report = json.loads((tmp_path / "models" / "tiny" / "evaluation.json").read_text())
    assert (report["metric"], report["kind"]) == ("roc_auc", "binary") and report["value"] >= 0.97


def test_up_with_auth_makes_a_key_requires_it_and_reports_health(tmp_path):
    with nrt_up("--auth", "--health-seconds", "1", state=tmp_path) as secured:
        proc, url = secured.process, secured.url
        assert proc.stdout is not None
        key_file = tmp_path / "api-key"
        key = key_file.read_text().strip()

        assert f"auth          x-api-key required on every request (the key: {key_file})" in secured.banner
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert len(key) >= 32
        assert request(f"{url}/models")[0] == 403
        assert request(f"{url}/status")[0] == 403
        assert request(f"{url}/models", headers={"x-api-key": key})[0] == 200
        produced = subprocess.run(
            [sys.executable, "producer/producer.py", "--url", url, "--count", "20", "--rate", "0", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "NRT_API_KEY": key},
        )  # fmt: skip
        assert json.loads(produced.stdout)["by_status"] == {"200": 20}, produced.stderr
        status = subprocess.run(
            [*NRT, "status", "--url", url, "--state-dir", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert "answered 20" in status.stdout
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (line := proc.stdout.readline()).startswith("health  "):
            pass
        assert line.startswith("health  ")
        assert "readings/s" in line
        assert "failure store 0" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--faults", "model_eror=0.1"], "--faults: unknown fault 'model_eror'; known: cold_start,"),
        (["up", "--faults", "throttle=2"], "--faults: fault 'throttle' is a rate per call: between 0 and 1, got 2"),
        (["status", "--url", "http://127.0.0.1:9"], "nothing answers at http://127.0.0.1:9"),
    ],
)
def test_a_bad_faults_spec_or_no_stack_is_a_clear_error_not_a_traceback(tmp_path, args, message):
    result = subprocess.run(
        [*NRT, *args, "--state-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_events_accepted_just_before_ctrl_c_reach_the_lake_by_the_next_start(tmp_path):
    from benchmarks.stack import nrt_up
    from nrt.lake.parquet import column_values, table_spec

    with nrt_up("--flush-seconds", "30", state=tmp_path) as stack:
        produced = subprocess.run(
            [sys.executable, "producer/producer.py", "--url", stack.url, "--count", "150", "--rate", "0", "--async",
             "--sensors", "3", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert json.loads(produced.stdout)["by_status"] == {"202": 150}, produced.stderr
    assert stack.process.returncode == 0
    # What did not run before the stop was kept, and runs at the next start.
    with nrt_up("--flush-seconds", "1", state=tmp_path):
        deadline = time.monotonic() + 60
        while len(column_values(tmp_path / "lake", table_spec(), "event_id")) < 150 and time.monotonic() < deadline:
            time.sleep(0.5)
    assert len(column_values(tmp_path / "lake", table_spec(), "event_id")) == 150
