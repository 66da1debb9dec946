"""Accounting: where each sent reading ended up."""

from __future__ import annotations

from collections import Counter

from nrt.ops.accounting import account, failure_ids
from nrt.ops.failures import Failure


def failure(request: dict[str, object]) -> Failure:
    return Failure("f-1", 503, "ModelUnavailable", "m", "2026-11-27T00:00:00Z", request, "cause")


def test_a_batch_failure_accounts_for_every_reading_in_it():
    readings = [{"sensor": "s", "timestamp": 1}, {"sensor": "s", "timestamp": 2, "event_id": "e"}]
    batch = {"model": "m", "readings": readings}

    assert failure_ids(failure(batch)) == {"s:1", "e"}
    assert failure_ids(failure({"sensor": "s", "timestamp": 3})) == {"s:3"}
    assert failure_ids(failure({})) == set()


def test_given_stored_recorded_and_missing_readings_then_each_is_counted_once():
    sent = {"s:1", "s:2", "s:3", "s:4"}
    recorded = [failure({"sensor": "s", "timestamp": 3})]
    result = account(sent, {"s:1", "s:2", "other:9"}, recorded, Counter({"s:1": 1, "s:2": 2}))

    assert (result.sent, result.stored, result.recorded) == (4, 2, 1)
    assert result.lost == {"s:4"}
    assert result.lake_missing == frozenset()
    assert result.lake_duplicates == {"s:2"}
    assert not result.complete
    assert result.summary() == "4 readings: 2 stored, 1 in the failure store, 1 lost; lake: 0 missing, 1 duplicated"


def test_a_reading_stored_after_a_recorded_failure_is_accounted_for_and_a_missing_lake_row_is_not():
    result = account({"s:1"}, {"s:1"}, [failure({"sensor": "s", "timestamp": 1})], Counter())

    assert result.lost == frozenset()
    assert result.lake_missing == {"s:1"}
