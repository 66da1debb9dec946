"""End to end, in the order a user acts: `nrt up` on free ports, readings scored, then what
really happened for them sent back (POST /outcomes and `nrt outcomes upload`), found in the
local lake's outcomes table beside its predictions, and kept across a restart."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.stack import nrt_up
from nrt.lake.athena import LocalAthena
from tests.helpers import ROOT
from tests.helpers import post_json as post

NRT = [sys.executable, "-m", "nrt.cli"]
START = 1_795_342_530_000


def upload(state: Path, csv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NRT, "outcomes", "upload", str(csv), "--state-dir", str(state)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def joined(state: Path) -> list[tuple[Any, ...]]:
    """Each outcome beside its prediction, as the quality view will join them (latest outcome per reading)."""
    return (
        LocalAthena(state / "lake")
        .execute(
            "SELECT o.event_id, o.label, p.label FROM outcomes o JOIN predictions p "
            "ON o.model = p.model AND o.event_id = p.event_id WHERE o.model = 'failure' ORDER BY o.event_id"
        )
        .rows
    )


def wait_for(state: Path, count: int, seconds: float = 30) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + seconds
    while len(rows := joined(state)) < count:
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.5)
    return rows


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outcomes-stack")


def test_given_scored_readings_when_their_outcomes_come_back_by_api_and_csv_then_the_lake_joins_them(state, tmp_path):
    with nrt_up("--flush-seconds", "1", state=state) as stack:
        for i in range(4):
            reading = {"model": "failure", "sensor": f"till-{i}", "timestamp": START + i, "data": [12, 87, 20 + i]}
            assert post(f"{stack.url}/predictions", reading)[0] == 200
        # WHEN the first outcome comes by the API, named as the reading was
        status, answer = post(
            f"{stack.url}/outcomes", {"model": "failure", "sensor": "till-0", "timestamp": START, "outcome": 1}
        )
        assert (status, answer["event_id"], answer["duplicate"]) == (200, f"till-0:{START}", False)
        # a label the model does not know is refused, naming it
        status, answer = post(f"{stack.url}/outcomes", {"model": "failure", "event_id": "x", "outcome": "fraud"})
        assert (status, answer["error"]) == (400, "UnknownOutcome")
        # AND the others in a CSV, by sensor and timestamp or by event_id
        good = tmp_path / "outcomes.csv"
        good.write_text(
            f"model,sensor,timestamp,event_id,outcome\nfailure,till-1,{START + 1},,0\nfailure,,,till-2:{START + 2},1\n"
        )
        first = upload(state, good)
        again = upload(state, good)
        bad = tmp_path / "bad.csv"
        bad.write_text(f"model,event_id,outcome\nfailure,till-3:{START + 3},0\nfailure,till-3:{START + 3},maybe\n")
        refused = upload(state, bad)

        # THEN each upload says what happened, re-uploading is harmless, a refused row is named by its line
        assert first.returncode == 0, first.stdout + first.stderr
        assert "2 outcomes: 2 stored, 0 already there, 0 corrected, 0 refused" in first.stdout
        assert again.returncode == 0 and "2 outcomes: 0 stored, 2 already there" in again.stdout
        assert refused.returncode == 1
        assert "line 3: 400 UnknownOutcome" in refused.stderr and "maybe" in refused.stderr
        # AND the lake's outcomes table has each, beside the prediction it joins
        rows = wait_for(state, 4)
    assert [(event_id, outcome) for event_id, outcome, _ in rows] == [
        (f"till-0:{START}", "1"),
        (f"till-1:{START + 1}", "0"),
        (f"till-2:{START + 2}", "1"),
        (f"till-3:{START + 3}", "0"),
    ]
    assert all(predicted in ("0", "1") for _, _, predicted in rows)


def test_given_a_restart_when_an_outcome_is_sent_again_then_the_table_and_the_lake_kept_everything_once(state):
    with nrt_up("--flush-seconds", "1", state=state) as stack:
        status, answer = post(
            f"{stack.url}/outcomes", {"model": "failure", "sensor": "till-0", "timestamp": START, "outcome": 1}
        )
        assert (status, answer["duplicate"]) == (200, True)
        status, answer = post(
            f"{stack.url}/outcomes", {"model": "failure", "sensor": "till-1", "timestamp": START + 1, "outcome": 1}
        )
        assert (status, answer["corrected"]) == (200, True)
        rows = wait_for(state, 5)
    assert len(rows) == 5  # four outcomes, one of them corrected: its INSERT and its MODIFY
    assert sorted(r[1] for r in rows if r[0] == f"till-1:{START + 1}") == ["0", "1"]
