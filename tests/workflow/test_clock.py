"""The inference workflow's clock (statemachine/inference.asl.json, the states from Clock up to
CacheOn): ASL has no clock in epoch seconds, so the workflow computes one from
$$.Execution.StartTime with intrinsic functions. Here those very states run on the embedded AWS
at moments across a century, leap days and year ends, and each value is checked against
Python's calendar."""

from __future__ import annotations

import calendar
import datetime
import json
import random
from typing import Any

import pytest

from nrt.emulator import sdk_tasks
from tests.helpers import ROOT
from tests.helpers.emulator import make_machine, sync

FIRST, AFTER = "Clock", "CacheOn"


def clock_states() -> dict[str, Any]:
    """The workflow's own clock states, from Clock up to the state after them, which ends instead."""
    states = json.loads((ROOT / "statemachine/inference.asl.json").read_text())["States"]
    chain: dict[str, Any] = {}
    name = FIRST
    while name != AFTER:
        state = dict(states[name])
        chain[name] = state
        name = state["Next"]
        if name == AFTER:
            del state["Next"]
            state["End"] = True
    return chain


def expected(moment: datetime.datetime) -> dict[str, Any]:
    epoch = calendar.timegm(moment.timetuple())
    claim_day = moment.date() + datetime.timedelta(days=365)
    march_year = moment.year if moment.month >= 3 else moment.year - 1
    march_first = calendar.timegm(datetime.date(march_year, 3, 1).timetuple())
    return {
        "claim_expires_at": str(calendar.timegm(claim_day.timetuple())),
        "march_year": march_year,
        "now": epoch - march_first,
        "ttl_base": (epoch // 3600 + 1) * 36,
    }


def moments() -> list[datetime.datetime]:
    edges = [
        "2000-01-01T00:00:00.000", "2000-02-29T23:59:59.999", "2000-03-01T00:00:00.000",
        "2024-02-28T12:00:00.500", "2024-02-29T00:00:00.000", "2025-02-28T23:59:59.000",
        "2025-03-01T00:00:00.001", "2026-12-05T13:45:01.234", "2026-12-31T23:59:59.999",
        "2027-01-01T00:00:00.000", "2028-02-29T23:59:59.999", "2099-12-31T23:00:00.000",
    ]  # fmt: skip
    chosen = [datetime.datetime.fromisoformat(edge) for edge in edges]
    pick = random.Random(26)
    start, span = datetime.datetime(2000, 1, 1), 100 * 365 * 86400
    chosen += [start + datetime.timedelta(seconds=pick.randrange(span)) for _ in range(60)]
    return [moment.replace(tzinfo=datetime.UTC) for moment in chosen]


@pytest.fixture(scope="module")
def clock(aws: Any) -> str:
    return make_machine(aws, clock_states(), FIRST)


@pytest.mark.parametrize("moment", moments(), ids=lambda moment: moment.isoformat(timespec="seconds"))
def test_the_workflows_clock_reads_the_execution_start_as_pythons_calendar_does(aws, clock, monkeypatch, moment):
    started = sdk_tasks.iso_timestamp(moment)
    monkeypatch.setattr(sdk_tasks, "iso_timestamp", lambda _: started)

    result = sync(aws, clock, {})

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["clock"] == expected(moment)
