"""Every accepted reading accounted for: a stored prediction (table and lake) or a failure record.

Used by the fault test and `benchmarks/faults.py`: give it the event ids that were sent, and
it reads the predictions table, the failure store and the lake of a local stack.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nrt.ops.failures import Failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def reading_id(reading: Mapping[str, object]) -> str:
    """The reading's event id: its own, or sensor:timestamp (as the workflow derives it)."""
    return str(reading.get("event_id") or f"{reading.get('sensor')}:{reading.get('timestamp')}")


def failure_ids(failure: Failure) -> set[str]:
    """The event ids of the readings a failure record holds (one, or a whole batch)."""
    readings = failure.request.get("readings")
    if isinstance(readings, list):
        return {reading_id(r) for r in readings if isinstance(r, dict)}
    return {reading_id(failure.request)} if failure.request else set()


@dataclass(frozen=True)
class Accounting:
    sent: int
    stored: int
    recorded: int
    lost: frozenset[str]
    lake_missing: frozenset[str]
    lake_duplicates: frozenset[str]

    @property
    def complete(self) -> bool:
        return not (self.lost or self.lake_missing or self.lake_duplicates)

    def summary(self) -> str:
        return (
            f"{self.sent} readings: {self.stored} stored, {self.recorded} in the failure store, "
            f"{len(self.lost)} lost; lake: {len(self.lake_missing)} missing, {len(self.lake_duplicates)} duplicated"
        )


def account(sent: Iterable[str], stored: Iterable[str], failures: Iterable[Failure], lake: Counter[str]) -> Accounting:
    """Where each sent reading ended up. A reading may be both stored and recorded (it failed,
    then succeeded on a retry): it is accounted for either way."""
    sent_ids = set(sent)
    stored_ids = set(stored) & sent_ids
    recorded_ids = set().union(*(failure_ids(f) for f in failures)) & sent_ids
    return Accounting(
        sent=len(sent_ids),
        stored=len(stored_ids),
        recorded=len(recorded_ids),
        lost=frozenset(sent_ids - stored_ids - recorded_ids),
        lake_missing=frozenset(stored_ids - set(lake)),
        lake_duplicates=frozenset(i for i, n in lake.items() if n > 1),
    )


def stored_ids(ddb: DynamoDBClient, table: str) -> set[str]:
    """The event id of every item in the predictions table."""
    found: set[str] = set()
    for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="event_id"):
        found.update(item["event_id"]["S"] for item in page["Items"])
    return found


def lake_inserts(lake: Path) -> Counter[str]:
    """How many INSERT rows the lake holds per event id."""
    from nrt.lake.parquet import read_rows, table_spec

    return Counter(r["event_id"] for r in read_rows(lake, table_spec()) if r["change_type"] == "INSERT")
