"""The upstream reports of the SageMaker, Athena, DynamoDB and write-through patches (docs/upstream/):
each reproduction still shows, against plain moto, the difference its report describes.

Every script runs in a process of its own with nothing of nrt imported, so what it shows is
moto as released. A script exits 0 while moto still differs from AWS; once moto fixes the
behaviour its assertion fails here, and the report (and perhaps the patch) is due for review.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nrt import emulator
from tests.helpers import ROOT

REPORTS = ROOT / "docs" / "upstream"
INDEX = REPORTS / "README.md"
MODULES = ("sagemaker", "sagemaker_jobs", "tuning_jobs", "athena", "dynamodb", "write_through")
# The reports with a moto behaviour to show; the write-through ones are local persistence.
REPRODUCED = (
    "invoke-endpoint",
    "create-endpoint",
    "update-endpoint",
    "add-tags",
    "model-description",
    "sagemaker-integration",
    "training-jobs",
    "processing-jobs",
    "tuning-jobs",
    "athena-queries",
    "athena-integration",
    "atomic-writes",
)
NOT_FOR_UPSTREAM = (
    "write-through-changes",
    "write-through-answers",
    "write-through-endpoints",
    "write-through-objects",
)


def _patches() -> list[emulator.Patch]:
    return [p for p in emulator.REGISTRY if p.kind == "fidelity" and p.apply.__module__.rsplit(".", 1)[-1] in MODULES]


def _scripts(name: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", (REPORTS / f"{name}.md").read_text(), re.DOTALL | re.MULTILINE)


def test_every_fidelity_patch_here_has_its_report_named_in_the_registry_and_the_index():
    names = sorted(p.name for p in _patches())
    assert names == sorted(REPRODUCED + NOT_FOR_UPSTREAM)
    index = INDEX.read_text()
    for entry in _patches():
        report = REPORTS / f"{entry.name}.md"
        assert report.exists(), entry.name
        assert entry.upstream.startswith(f"docs/upstream/{entry.name}.md ("), entry
        assert f"({entry.name}.md)" in index, entry.name
        text = report.read_text()
        assert f"nrt/emulator/{entry.apply.__module__.rsplit('.', 1)[-1]}.py:{entry.apply.__name__}" in text
        assert entry.test in text, entry.name  # the test that proves the patch
        assert "moto 5.2.5" in text and "https://docs.aws.amazon.com/" in text, entry.name


def test_a_report_without_a_moto_behaviour_to_show_says_so_and_has_no_script():
    for name in NOT_FOR_UPSTREAM:
        assert "not for upstream: local persistence" in (REPORTS / f"{name}.md").read_text()
        assert _scripts(name) == [], name


@pytest.mark.parametrize("name", REPRODUCED)
def test_the_reproduction_still_shows_the_difference_with_plain_moto(name: str, tmp_path: Path):
    (script,) = _scripts(name)
    assert len(script.splitlines()) <= 60, name
    assert not re.search(r"^\s*(from|import)\s+nrt\b", script, re.MULTILINE), name
    # Plain moto in a clean process: no endpoint, credentials or settings of the test run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NRT_", "MOTO_", "PYTHON"))}
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (
        f"docs/upstream/{name}.md: its reproduction no longer shows the difference with moto "
        f"{emulator.MOTO_VERSION}; review the report and the patch\n{done.stdout}\n{done.stderr[-2000:]}"
    )
    assert "moto differs from AWS" in done.stdout, done.stdout
