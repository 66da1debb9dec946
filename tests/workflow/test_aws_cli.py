"""The AWS CLI (awscli from PyPI) against the embedded AWS, for the calls docs/operations.md shows: it
must see what AWS answers (a made-up execution name, Express executions not listed, the sync-
host prefix switched off by the documented setting)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nrt.emulator.server import EmbeddedAws
from tests.helpers import ROOT
from tests.helpers.aws_cli import AWS, cli_env

GUIDE = (ROOT / "docs" / "operations.md").read_text()


def shown_aws_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("aws ")]


def cli(aws: EmbeddedAws, line: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """One line of the guide, with the guide's environment, against this embedded AWS."""
    env = cli_env(
        tmp_path,
        AWS_DEFAULT_REGION=aws.ctx.region,
        AWS_ENDPOINT_URL=aws.url,
        AWS_DISABLE_HOST_PREFIX_INJECTION="true",
    )
    argv = shlex.split(line.replace("127.0.0.1:4566", aws.url.removeprefix("http://")))
    argv = [AWS if a == "aws" else a for a in argv]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def line_with(*words: str) -> str:
    found = [line for line in shown_aws_lines() if all(w in line for w in words)]
    assert found, f"docs/operations.md shows no aws command with {words}"
    return found[0]


def out(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_guide_shows_the_setting_the_sync_call_needs():
    assert "AWS_DISABLE_HOST_PREFIX_INJECTION=true" in GUIDE


def test_start_sync_execution_as_the_guide_shows_it_scores_a_reading(aws, model_host, tmp_path):
    model_host("failure")

    answer = out(cli(aws, line_with("start-sync-execution"), tmp_path))

    assert answer["status"] == "SUCCEEDED", answer
    assert json.loads(answer["output"])["prediction"] in (0, 1)


def test_start_execution_without_a_name_works_every_time(aws, model_host, tmp_path):
    model_host("failure")
    line = line_with("start-execution")
    assert "--name" not in line

    first, second = out(cli(aws, line, tmp_path)), out(cli(aws, line, tmp_path))

    assert first["executionArn"] != second["executionArn"]


def test_list_executions_on_the_express_workflow_is_refused_as_on_aws(aws, tmp_path):
    result = cli(aws, line_with("list-executions"), tmp_path)

    assert result.returncode != 0
    assert "StateMachineTypeNotSupported" in result.stderr


@pytest.mark.parametrize("name", ["has space", "a" * 81, "semi;colon"])
def test_an_execution_name_aws_refuses_is_refused(aws, tmp_path, name):
    line = line_with("start-execution") + f" --name '{name}'"

    result = cli(aws, line, tmp_path)

    assert result.returncode != 0
    assert "InvalidName" in result.stderr
