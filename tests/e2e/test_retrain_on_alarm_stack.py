"""`nrt up --retrain-on-alarm` as a user runs it: the demo model answers a world that has changed
(`nrt produce --drift 0 --outcomes`: failures come as a dip, and each outcome is sent back), its
live quality falls below training in `nrt status`, and the template's RetrainOnAlarm rule starts
one retraining of it, seen with the AWS CLI; asking again does not start another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.stack import nrt_up
from nrt.lake.quality import BELOW
from tests.helpers import ROOT

NRT = [sys.executable, "-m", "nrt.cli"]
AWS = os.path.join(os.path.dirname(sys.executable), "aws")


def run(command: list[str], **env: str) -> Any:
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **env}, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def retrainings(aws_port: int) -> list[dict[str, Any]]:
    """The retraining workflow's executions, by the AWS CLI against the embedded AWS."""
    cli = [AWS, "--endpoint-url", f"http://127.0.0.1:{aws_port}", "--region", "us-east-1", "--output", "json"]
    keys = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    machines = json.loads(run([*cli, "stepfunctions", "list-state-machines"], **keys))["stateMachines"]
    [retrain] = [m["stateMachineArn"] for m in machines if m["name"].endswith("-retrain")]
    listed = run([*cli, "stepfunctions", "list-executions", "--state-machine-arn", retrain], **keys)
    return list(json.loads(listed)["executions"])


def test_a_model_whose_live_quality_falls_below_training_is_retrained_once(tmp_path):
    with nrt_up("--retrain-on-alarm", "--flush-seconds", "1") as stack:
        status = [*NRT, "status", "--json", "--state-dir", str(stack.state)]
        assert retrainings(stack.aws_port) == []

        sent = run([*NRT, "produce", "--url", stack.url, "--count", "260", "--rate", "0", "--drift", "0",
                    "--outcomes", "--json"])  # fmt: skip
        assert json.loads(sent.strip().splitlines()[-1])["outcomes_by_status"] == {"200": 260}, sent

        deadline = time.monotonic() + 120
        while True:  # the lake takes the predictions and outcomes in; then the verdict turns
            quality = json.loads(run(status))["quality"]
            if any(v["model"] == "failure" and v["state"] == BELOW for v in quality) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert any(v["model"] == "failure" and v["state"] == BELOW for v in quality), quality

        deadline = time.monotonic() + 60
        started = retrainings(stack.aws_port)
        while not any("-alarm-" in e["name"] for e in started):
            assert time.monotonic() < deadline, started
            time.sleep(1)
            started = retrainings(stack.aws_port)
        for _ in range(3):  # asked again, the alarm is still in ALARM: no other retraining
            run(status)
        alarmed = [e for e in retrainings(stack.aws_port) if "-alarm-" in e["name"]]

        assert len(alarmed) == 1, alarmed
        assert alarmed[0]["name"].startswith("failure-alarm-"), alarmed
