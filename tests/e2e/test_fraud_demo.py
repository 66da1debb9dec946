"""The fraud workshop in one command, as a user runs it: `nrt demo --fraud` trains on generated
transactions with a cost-chosen threshold, deploys the model on the Lambda tier with the cache,
drives a spike with repeated transactions and prints the story, the plan for 10,000/s beside it."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import ROOT, free_port


def test_nrt_demo_fraud_tells_the_story_with_every_transaction_decided_stored_and_in_the_lake(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nrt.cli", "demo", "--fraud", "--transactions", "8000", "--peak", "12",
         "--repeat", "0.6", "--api-port", str(free_port()), "--aws-port", str(free_port()),
         "--state-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    out = result.stdout

    assert result.returncode == 0, out + result.stderr[-3000:]
    assert "the threshold for the least cost (a missed fraud $120, a declined good customer $5)" in out
    assert re.search(r"cost per 1,000 transactions: \$[\d,.]+ with the model, \$[\d,.]+ without it", out)
    assert "--tier lambda --cache 300" in out
    decided = re.search(r"5\. ([\d,]+) decisions, [\d.]+ a second on average", out)
    hits = re.search(r"cache: ([\d,]+) of ([\d,]+) stored decisions served from it", out)
    assert decided and hits, out
    assert int(hits.group(2).replace(",", "")) == int(decided.group(1).replace(",", ""))
    assert int(hits.group(1).replace(",", "")) > 0  # repeated transactions were answered from the cache
    assert "on AWS at 10,000 transactions/s (nrt plan --rps 10000 --tier lambda)" in out
    assert "OK: every transaction decided, stored and in the lake" in out
