"""The README's "Your first model", run as written: a stack, then the commands of a second
terminal one after another, with no wait between them, and the curl line answered 200."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from benchmarks.stack import nrt_up
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

SECTION = (ROOT / "README.md").read_text().split("## Your first model", 1)[1].split("\n## ", 1)[0]


def commands() -> list[str]:
    block = SECTION.split("```bash\n", 1)[1].split("```", 1)[0]
    return [re.split(r"\s+#", line, maxsplit=1)[0].strip() for line in block.splitlines() if line.strip()]


def shown_answer() -> dict[str, object]:
    shown = re.search(r"^```\n(\{.*?)\n```", SECTION, re.S | re.M)
    assert shown, "the section shows the answer in a ``` block"
    answer: dict[str, object] = json.loads(shown.group(1))
    return answer


def nrt(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(ROOT / ".venv/bin/nrt"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"nrt {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_section_is_up_train_deploy_and_one_curl():
    lines = commands()
    assert lines[0] == "make up"
    assert [line.split()[1] for line in lines[1:-1]] == ["train", "deploy-model"]
    assert lines[-1].startswith("curl ") and "/predictions" in lines[-1]


def test_your_first_model_as_the_readme_writes_it(tmp_path):
    _make_up, *terminal_two, curl = commands()
    # `make up`, on free ports: the commands find it through its state directory alone.
    with nrt_up(state=tmp_path / "state") as stack:
        env = {**os.environ, "NRT_STATE_DIR": str(stack.state)}
        for line in terminal_two:
            done = subprocess.run(line, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        sent = curl.replace("http://127.0.0.1:3000", stack.url) + " -w '\\n%{http_code}'"
        done = subprocess.run(sent, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60)
        # The other commands find the same stack by the state directory alone, flag or variable.
        listed = nrt("models", "--state-dir", str(stack.state))
        assert "big" in listed and "InService" in listed
        assert "answered" in nrt("status", env=env)
        assert "(0 failures)" in nrt("failures", env=env)
        assert "sent 3 readings" in nrt(
            "produce", "--count", "3", "--model", "big", "--csv", "examples/orders.csv", "--drop", "spend,big", env=env
        )
    # Stopped: the commands say which state dir they looked at and that nothing runs there.
    gone = subprocess.run(
        [str(ROOT / ".venv/bin/nrt"), "models"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert gone.returncode == 1
    assert f"{stack.state}/stack.json records no running stack" in gone.stderr

    text, _, status = done.stdout.rpartition("\n")
    answer = json.loads(text)
    assert status == "200", answer
    shown = shown_answer()
    assert answer.keys() == shown.keys(), "the README shows the answer's fields as they are"
    assert answer["model"] == shown["model"] == "big"
    assert answer["prediction"] in ("yes", "no")
    assert set(answer["probabilities"]) == {"yes", "no"}
