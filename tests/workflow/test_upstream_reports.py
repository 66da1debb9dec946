"""docs/upstream/: the reports of moto's differences from AWS, one per fidelity patch. Each
report's reproduction runs here against moto as released (no nrt patch installed) and must
still show the difference: when moto fixes one, its test fails, and the report and patch go."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nrt import emulator
from nrt.emulator.registry import Patch
from tests.helpers import ROOT

UPSTREAM = ROOT / "docs" / "upstream"
# The Step Functions patches' modules; tests/workflow/test_upstream_reports_sagemaker.py checks
# the reports of the others (SageMaker, DynamoDB, write-through).
REPORTED_MODULES = {"sdk_tasks", "sdk_casing", "executions", "speed"}

# Runs the script as a program, then checks nothing of nrt was imported: plain moto only.
RUN_PLAIN = (
    "import runpy, sys\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
    "assert not [m for m in sys.modules if m == 'nrt' or m.startswith('nrt.')], 'nrt was imported'\n"
)
# The same script on moto with our fidelity patches: it must fail there (it shows what they fix).
RUN_PATCHED = (
    "import runpy, sys\n"
    "from nrt import emulator\n"
    "emulator.install()\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
)
SETTINGS = ("MOTO_", "NRT_", "AWS_", "TEST_SERVER_MODE")


def module_of(entry: Patch) -> str:
    return entry.apply.__module__.rsplit(".", 1)[-1]


REPORTED = [
    entry
    for entry in emulator.REGISTRY
    if entry.upstream.startswith("docs/upstream/") and module_of(entry) in REPORTED_MODULES
]


def report_of(entry: Patch) -> Path:
    return ROOT / entry.upstream.split()[0]


def reproduction(report: Path) -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", report.read_text(), re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, f"{report.name}: one ```python block, the reproduction"
    script: str = blocks[0]
    return script


def test_every_reported_module_s_fidelity_patch_has_a_report():
    missing = [
        entry.name
        for entry in emulator.REGISTRY
        if entry.kind == "fidelity" and module_of(entry) in REPORTED_MODULES and entry not in REPORTED
    ]
    assert missing == []
    assert len(REPORTED) >= 12


@pytest.mark.parametrize("entry", REPORTED, ids=lambda entry: entry.name)
def test_a_report_names_its_patch_its_test_and_is_indexed(entry: Patch):
    report = report_of(entry)
    # "docs/upstream/<patch>.md (not filed)", or the issue it was filed as after the path.
    assert entry.upstream.split()[0] == f"docs/upstream/{entry.name}.md"
    assert report.is_file()
    text = report.read_text()
    assert f"nrt/emulator/{module_of(entry)}.py:{entry.apply.__name__}" in text
    assert entry.test.partition("::")[2] in text
    assert f"({report.name})" in (UPSTREAM / "README.md").read_text()
    assert len(reproduction(report).splitlines()) <= 60


def run(entry: Patch, program: str, tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"{entry.name}.py"
    script.write_text(reproduction(report_of(entry)))
    # No embedded AWS's port, no patches' settings: what a moto maintainer would run.
    env = {key: value for key, value in os.environ.items() if not key.startswith(SETTINGS)}
    return subprocess.run(
        [sys.executable, "-I", "-c", program, str(script)],
        cwd=tmp_path,
        env={**env, **settings},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("entry", REPORTED, ids=lambda entry: entry.name)
def test_a_report_s_reproduction_still_shows_the_difference_on_moto_as_released(entry: Patch, tmp_path: Path):
    done = run(entry, RUN_PLAIN, tmp_path)

    assert done.returncode == 0, (
        f"{entry.upstream}: the reproduction no longer shows the difference (has moto fixed it? "
        f"then retire the patch and the report)\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    )
    assert "moto differs from AWS" in done.stdout


@pytest.mark.parametrize("entry", REPORTED, ids=lambda entry: entry.name)
def test_a_report_s_reproduction_fails_on_moto_with_the_fidelity_patches(entry: Patch, tmp_path: Path):
    # Speed-ups off: what the reproduction shows is what a fidelity patch restores.
    done = run(entry, RUN_PATCHED, tmp_path, **{emulator.SPEEDUPS_SETTING: "0"})

    assert done.returncode != 0, done.stdout[-1500:]
    assert "moto differs from AWS" not in done.stdout
    assert "Error" in done.stderr.strip().splitlines()[-1], done.stderr[-3000:]
