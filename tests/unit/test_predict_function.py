"""functions/predict/serving.py, the parts no workflow run shows: StartSyncExecution's own errors
as the API's templates answer them, and the event-id claim's expiry as the ASL computes it."""

from __future__ import annotations

import datetime
import json

import pytest

from functions.predict.serving import WorkflowRefused, batch, claim_expiry, refused, single_reading


@pytest.mark.parametrize(
    ("error", "status", "answer"),
    [
        ("InvalidName", 400, (413, "PayloadTooLarge")),
        ("ThrottlingException", 400, (429, "ServiceThrottled")),
        ("StateMachineDoesNotExist", 400, (500, "InternalError")),
        ("InternalServerError", 500, (503, "ServiceUnavailable")),
    ],
)
def test_a_workflow_refusal_is_answered_as_the_methods_error_templates_answer_it(error, status, answer):
    result = refused(WorkflowRefused(error, status))

    assert result["status"] == "FAILED"
    cause = json.loads(result["cause"])
    assert (cause["status"], cause["error"]) == answer
    assert result["cause"].startswith('{"status"')  # what the response template looks for


@pytest.mark.parametrize("day", ["2026-12-05", "2024-02-29", "2027-01-01", "2025-03-01"])
def test_an_event_id_claim_expires_at_utc_midnight_365_days_after_its_day(day):
    claimed = datetime.date.fromisoformat(day)
    expected = datetime.datetime.combine(claimed + datetime.timedelta(days=365), datetime.time(), datetime.UTC)

    assert claim_expiry(f"{day}T13:45:01.234Z") == int(expected.timestamp())


def test_the_validate_rules_are_the_workflows():
    reading = {"model": "m", "sensor": "s", "timestamp": 1_760_000_000_000, "data": [1]}
    assert single_reading(reading)
    assert not single_reading({**reading, "features": {"a": 1}})  # data and features
    assert not single_reading({**reading, "timestamp": 5})  # before 2000
    assert not single_reading({**reading, "timestamp": True})
    assert batch({"model": "m", "readings": [reading]})
    assert not batch({"model": "m", "readings": []})
    assert not batch({"model": "m", "readings": [reading] * 101})
    assert not batch({"model": "m", "readings": [reading], "sensor": "s"})


class FakeCache:
    """A CacheTable in a dict; `broken` names the call that fails."""

    def __init__(self, setting: dict | None, broken: str = "") -> None:
        self.items: dict[str, dict] = {} if setting is None else {"setting#nrt-m": setting}
        self.broken = broken

    def setting(self, endpoint: str) -> dict | None:
        if self.broken == "setting":
            raise RuntimeError("throttled")
        return self.items.get(f"setting#{endpoint}")

    def entry(self, key: str) -> dict | None:
        if self.broken == "entry":
            raise RuntimeError("throttled")
        return self.items.get(key)

    def keep(self, item: dict) -> None:
        if self.broken == "keep":
            raise RuntimeError("item over 400 KB")
        self.items[item["key"]["S"]] = item


def lookup_at(cache: FakeCache, moment: datetime.datetime, version: str = "etag-1"):
    from types import SimpleNamespace

    from functions.predict.serving import CacheLookup

    predict = SimpleNamespace(cache=cache, clock=lambda: moment)
    execution = SimpleNamespace(
        predict=predict, endpoint="nrt-m", scorer=SimpleNamespace(version=version), readings=[{"data": [1, 2, 3]}]
    )
    return CacheLookup.of(execution)  # type: ignore[arg-type]


NOON = datetime.datetime(2026, 12, 5, 12, tzinfo=datetime.UTC)
ON = {"seconds": {"N": "60"}, "hundreds": {"N": "1"}, "version": {"S": "nrt-m-v1"}}


def test_a_kept_answer_is_served_until_its_seconds_are_up_and_not_a_second_longer():
    cache = FakeCache(ON)
    lookup_at(cache, NOON).keep('{"predictions": [1]}')

    assert lookup_at(cache, NOON + datetime.timedelta(seconds=59)).hit() == '{"predictions": [1]}'
    assert lookup_at(cache, NOON + datetime.timedelta(seconds=60)).hit() is None  # TTL deletes later: checked here
    assert lookup_at(cache, NOON, version="etag-2").hit() is None  # another model version: its own entries


@pytest.mark.parametrize(
    ("setting", "broken"),
    [
        (None, ""),  # off: no setting
        ({"seconds": {"N": "60"}, "hundreds": {"N": "1"}}, ""),  # paused while the endpoint switches: no version
        ({"seconds": {"N": "soon"}, "version": {"S": "v"}}, ""),  # unusable
        (ON, "setting"),  # unreadable
    ],
)
def test_a_cache_off_paused_unusable_or_unreadable_leaves_the_reading_uncached(setting, broken):
    assert lookup_at(FakeCache(setting, broken), NOON) is None


@pytest.mark.parametrize("broken", ["entry", "keep"])
def test_a_cache_that_fails_to_read_or_keep_an_entry_costs_a_model_call_not_the_reading(broken):
    cache = FakeCache(ON, broken)
    lookup = lookup_at(cache, NOON)
    lookup.keep('{"predictions": [1]}')  # does not raise

    assert lookup.hit() is None


def test_a_damaged_entry_is_a_miss():
    cache = FakeCache(ON)
    lookup = lookup_at(cache, NOON)
    cache.items[lookup.key] = {"key": {"S": lookup.key}, "reply": {"N": "1"}}

    assert lookup.hit() is None
