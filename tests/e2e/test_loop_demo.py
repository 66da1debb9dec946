"""The closed loop in one command, as a user runs it: `nrt demo --loop` sends readings with their
outcomes, changes the world, shows the live quality fall and the drift, retrains from the lake,
and the promoted model answers the changed world."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import ROOT, free_port

F1 = r"live F1 ([\d.]+) \(precision [\d.]+, recall [\d.]+\) over (\d+) labelled readings"


def test_nrt_demo_loop_shows_quality_fall_with_the_world_and_come_back_after_retraining_from_the_lake(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nrt.cli", "demo", "--loop", "--phase-readings", "400",
         "--api-port", str(free_port()), "--aws-port", str(free_port()), "--state-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    out = result.stdout

    assert result.returncode == 0, out + result.stderr[-3000:]
    before, during, after = (float(f1) for f1, _ in re.findall(F1, out))
    assert [int(n) for _, n in re.findall(F1, out)] == [400, 400, 400]  # every outcome joined its prediction
    assert before > 0.9  # the world the model learnt
    assert during < 0.2  # a model of the old rule misses the dips
    assert after > 0.5 and after > during + 0.4  # the model retrained from the lake learnt them
    assert re.search(r"drift \(nrt drift failure --hours 1\): [abc] PSI [\d.]+, (major )?drift", out), out
    assert re.search(r"deployed: new roc_auc [\d.]+, serving roc_auc [\d.]+ on the same \d+ held-out rows", out), out
    assert "from the lake: 800 labelled readings" in out  # the first two phases, joined with their outcomes
    assert "OK (" in out
