"""POST /predictions with the latency tier on, the logic: the request API Gateway's mapping
template builds for StartSyncExecution, answered in StartSyncExecution's shape.

A model whose artifact is at `lambda/<endpoint>/model.tar.gz` (the Lambda tier) is scored
here, in memory, by its own serving code (training/container.py runs it as SageMaker's
container does), and each prediction is stored as statemachine/inference.asl.json's
StorePredictions stores it: the same item, the same conditional writes, the same refusals and
failure records, so the stream and the lake see it as any prediction. Any other request (a
model on the endpoint tier, a request the workflow's Validate state refuses, a model that
does not load here) goes to the workflow unchanged.

No boto3 and no settings here: the tables, the workflow and the models are ports (app.py
gives AWS's, nrt/apigateway/server.py the embedded AWS's).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

# The workflow's Validate state's timestamp bounds (epoch ms, [2000-01-01, 2100-01-01)).
EARLIEST_MS = 946_684_800_000
LATEST_MS = 4_102_444_800_000
MAX_BATCH = 100
# StorePredictions' MaxConcurrency in statemachine/inference.asl.json (a test keeps them equal).
MAP_WIDTH = 10


class StoreFailed(Exception):
    """A write the tables refused for a reason other than its condition (after the client's retries)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(cause)
        self.error = error
        self.cause = cause


class WorkflowRefused(Exception):
    """StartSyncExecution refused the request: the service's error type and HTTP status."""

    def __init__(self, error_type: str, status: int, message: str = "") -> None:
        super().__init__(message or error_type)
        self.error_type = error_type
        self.status = status


class Tables(Protocol):
    """The predictions, event-ids and failures tables. Each write raises StoreFailed for what
    its condition does not explain; a failed condition is `False`."""

    def put_prediction(self, item: dict[str, Any]) -> bool: ...

    def claim_event_id(self, item: dict[str, Any]) -> bool: ...

    def prediction(self, sensor: str, slot: str) -> dict[str, Any] | None: ...

    def record_failure(self, item: dict[str, Any]) -> None: ...


class Workflow(Protocol):
    """StartSyncExecution on the inference state machine; WorkflowRefused for its errors."""

    def start_sync_execution(self, request: dict[str, Any]) -> dict[str, Any]: ...


class Scorer(Protocol):
    """A loaded model: (HTTP status, body) for an `{"instances": [...]}` request, as its container
    answers; `version` names the artifact it was loaded from (a new one: another version)."""

    version: str

    def __call__(self, body: str) -> tuple[int, str]: ...


class Cache(Protocol):
    """The stack's CacheTable (the prediction cache, `nrt deploy-model --cache`): a model's setting
    and the entries. Any error raised here leaves the request uncached, never failed."""

    def setting(self, endpoint: str) -> dict[str, Any] | None: ...

    def entry(self, key: str) -> dict[str, Any] | None: ...

    def keep(self, item: dict[str, Any]) -> None: ...


# The model held for an endpoint on the Lambda tier, or None: the endpoint tier.
Models = Callable[[str], Scorer | None]
Clock = Callable[[], datetime.datetime]


def compact(value: Any) -> str:
    """JSON as Step Functions' States.JsonToString writes it (no spaces)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso_millis(moment: datetime.datetime) -> str:
    """A time as Step Functions writes $$.Execution.StartTime: UTC, milliseconds, Z."""
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def formatted(value: Any) -> str:
    """A number as States.Format writes it: an integral value without a fraction."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def claim_expiry(predicted_at: str) -> int:
    """The event-id claim's expires_at, computed as the ASL's ClaimDate, ClaimFromMarch and
    ClaimDays states compute it (epoch seconds, about a year after the prediction's day)."""
    year, month, day = (int(p) for p in re.split(r"[-T:.Z]", predicted_at)[:3])
    month, day = month - 1, day - 1
    year += (-1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)[month]
    day += (306, 337, 0, 31, 61, 92, 122, 153, 184, 214, 245, 275)[month]
    # States.ArrayRange(0, year - 1968, 1) holds year - 1967 numbers; partitioned by 4.
    days = math.ceil((year - 1967) / 4) + day + 423
    return (year - 1970) * 31_536_000 + days * 86_400


def single_reading(body: dict[str, Any]) -> bool:
    """The workflow's Validate state, its single-reading rule."""
    timestamp = body.get("timestamp")
    numeric = isinstance(timestamp, int | float) and not isinstance(timestamp, bool)
    return (
        isinstance(body.get("model"), str)
        and isinstance(body.get("sensor"), str)
        and numeric
        and EARLIEST_MS <= timestamp < LATEST_MS  # type: ignore[operator]
        and (("data" in body) != ("features" in body))
    )


def batch(body: dict[str, Any]) -> bool:
    """The workflow's Validate state, its batch rule."""
    readings = body.get("readings")
    return (
        isinstance(body.get("model"), str)
        and isinstance(readings, list)
        and 1 <= len(readings) <= MAX_BATCH
        and not any(k in body for k in ("sensor", "data", "features"))
    )


def endpoint_of(model: str, prefix: str) -> str:
    """The workflow's ResolveEndpoint: a full endpoint name stays, a model name gets the prefix."""
    return model if model.startswith(prefix) else f"{prefix}{model}"


def succeeded(output: dict[str, Any]) -> dict[str, Any]:
    return {"status": "SUCCEEDED", "output": compact(output)}


def failed(answer: dict[str, Any]) -> dict[str, Any]:
    """The workflow's Refuse state: the answer is the cause."""
    return {"status": "FAILED", "error": answer["error"], "cause": compact(answer)}


# StartSyncExecution's own errors, as the method's 4xx/5xx response templates answer them.
REFUSALS: dict[str, dict[str, Any]] = {
    "InvalidName": {"status": 413, "error": "PayloadTooLarge", "message": "request body is over 64000 characters"},
    "Throttling": {
        "status": 429,
        "error": "ServiceThrottled",
        "message": "the workflow service is throttling; retry with backoff",
    },
}
UNAVAILABLE = {"status": 503, "error": "ServiceUnavailable", "message": "the workflow service is unavailable; retry"}


def refused(error: WorkflowRefused) -> dict[str, Any]:
    """A StartSyncExecution error as the answer the API gives it without this function."""
    if error.status >= 500:
        return failed(UNAVAILABLE)
    answer = next((a for k, a in REFUSALS.items() if k in error.error_type), None)
    if answer is None:
        message = f"the workflow service refused the request: {error.error_type}"
        answer = {"status": 500, "error": "InternalError", "message": message}
    return failed(answer)


@dataclass
class Predict:
    """One StartSyncExecution request, answered by the Lambda tier or the workflow."""

    prefix: str
    tables: Tables
    workflow: Workflow
    models: Models
    clock: Clock = lambda: datetime.datetime.now(datetime.UTC)
    cache: Cache | None = None

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        execution = self.execution(request)
        return self.forward(request) if execution is None else execution.run()

    def execution(self, request: dict[str, Any]) -> Execution | None:
        """The request as a Lambda-tier execution; None when the workflow answers it (a model
        on the endpoint tier, or a body its Validate state refuses, which it records)."""
        try:
            body = json.loads(request.get("input", "{}"))
        except ValueError:
            return None
        if not (isinstance(body, dict) and (single_reading(body) or batch(body))):
            return None
        scorer = self.models(endpoint_of(body["model"], self.prefix))
        return None if scorer is None else Execution(self, str(request.get("name", "")), body, scorer)

    def forward(self, request: dict[str, Any]) -> dict[str, Any]:
        """The workflow's answer, or its refusal as the API's templates answer it."""
        try:
            result = self.workflow.start_sync_execution(request)
        except WorkflowRefused as error:
            return refused(error)
        # What the method's response templates read; the rest (dates, ARNs, billing) is not JSON as it is.
        return {k: v for k, v in result.items() if k in ("status", "output", "error", "cause")}


@dataclass
class Execution:
    """One request on the Lambda tier: the inference workflow's states, in Python."""

    predict: Predict
    name: str
    body: dict[str, Any]
    scorer: Scorer

    def __post_init__(self) -> None:
        self.started = iso_millis(self.predict.clock())
        self.model: str = self.body["model"]
        self.endpoint = endpoint_of(self.model, self.predict.prefix)
        self.single = "readings" not in self.body
        self.readings: list[Any] = [self.body] if self.single else self.body["readings"]
        self.cached = False  # answered from the prediction cache

    def run(self) -> dict[str, Any]:
        lookup = CacheLookup.of(self)
        reply = lookup.hit() if lookup else None
        self.cached = reply is not None
        if reply is None:
            status, reply = self.scorer(compact({"instances": self.readings}))
            if status != 200:
                return self.model_error(status, reply)
            if lookup:
                lookup.keep(reply)
        predictions = json.loads(reply)["predictions"]
        scored = list(enumerate(zip(self.readings, predictions, strict=True)))
        if self.single:
            results = [self.store(0, self.readings[0], predictions[0])]
        else:  # as the workflow's Map: at most MAP_WIDTH readings' writes in flight
            with ThreadPoolExecutor(MAP_WIDTH) as pool:
                results = list(pool.map(lambda one: self.store(one[0], *one[1]), scored))
        if not self.single:
            answer = {"model": self.model, "endpoint": self.endpoint, "count": len(results), "results": results}
            return succeeded(answer)
        return self.answer_one(results[0])

    def answer_one(self, result: dict[str, Any]) -> dict[str, Any]:
        """The workflow's WasStored and ClientOrServer: a stored prediction, or its failure."""
        if "error" not in result:
            return succeeded(result)
        keys = ("status", "error", "message", "feature") if "feature" in result else ("status", "error", "message")
        failure = {k: result[k] for k in keys}
        return succeeded(failure) if failure["status"] < 500 else failed(failure)

    def model_error(self, status: int, reply: str) -> dict[str, Any]:
        """The model answered an error for the whole request (InvokeModel's ModelError catch)."""
        side = "client" if status < 500 else "server"
        cause = f'Received {side} error ({status}) from primary with message "{reply}"'
        if status < 500:
            failure = {
                "status": 400,
                "error": "ValidationError",
                "message": f"the model rejected the features: {cause}",
                "feature": None,
            }
        else:
            message = "the model did not answer after retries: SageMakerRuntime.ModelErrorException"
            failure = {"status": 503, "error": "ModelUnavailable", "message": message}
        self.predict.tables.record_failure(
            {
                "failure_id": {"S": self.name},
                "error": {"S": "SageMakerRuntime.ModelErrorException"},
                "cause": {"S": cause},
                "status": {"N": str(failure["status"])},
                "model": {"S": self.model},
                "request": {"S": compact(self.body)},
                "failed_at": {"S": iso_millis(self.predict.clock())},
            }
        )
        return succeeded(failure) if status < 500 else failed(failure)

    # -- StorePredictions, one reading ------------------------------------------------------

    def store(self, index: int, reading: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
        if "error" in scored:
            return self.refuse(index, reading, scored)
        event_id = reading.get("event_id")
        slot = f"{formatted(reading['timestamp'])}#{self.endpoint}"
        tables = self.predict.tables
        try:
            if isinstance(event_id, str):
                claim = {
                    "event_id": {"S": event_id},
                    "sensor": {"S": reading["sensor"]},
                    "timestamp_endpoint": {"S": slot},
                    "expires_at": {"N": str(claim_expiry(self.started))},
                }
                if not tables.claim_event_id(claim):
                    message = f"event_id {event_id} already names another reading or model"
                    return self.conflict(event_id, reading, message)
            else:
                event_id = f"{reading['sensor']}:{formatted(reading['timestamp'])}"
            if tables.put_prediction(self.item(event_id, reading, slot, scored)):
                return self.answer(event_id, reading, scored)
            return self.resent(event_id, reading, slot)
        except StoreFailed as failure:
            return self.write_failed(str(event_id), reading, failure)

    def item(self, event_id: str, reading: dict[str, Any], slot: str, scored: dict[str, Any]) -> dict[str, Any]:
        """The workflow's PutPrediction item, attribute for attribute."""
        return {
            "sensor": {"S": reading["sensor"]},
            "timestamp_endpoint": {"S": slot},
            "timestamp": {"N": formatted(reading["timestamp"])},
            "event_id": {"S": event_id},
            "model": {"S": self.model},
            "endpoint": {"S": self.endpoint},
            "kind": {"S": scored["kind"]},
            "prediction": {"S": compact(scored["prediction"])},
            "probability": {"S": compact(scored["probability"])},
            "probabilities": {"S": compact(scored["probabilities"])},
            "reading": {"S": compact(reading)},
            "predicted_at": {"S": self.started},
            # as the workflow's PutCachedPrediction: on a hit only
            **({"cached": {"BOOL": True}} if self.cached else {}),
        }

    def answer(self, event_id: str, reading: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "sensor": reading["sensor"],
            "timestamp": reading["timestamp"],
            "model": self.model,
            "endpoint": self.endpoint,
            "kind": scored["kind"],
            "prediction": scored["prediction"],
            "probability": scored["probability"],
            "probabilities": scored["probabilities"],
            "duplicate": False,
            "cached": self.cached,
        }

    def resent(self, event_id: str, reading: dict[str, Any], slot: str) -> dict[str, Any]:
        """The slot is taken: the same reading sent again answers what was stored (IsResendOf*,
        LoadStoredAnswer), another one is a 409. One consistent read instead of the workflow's
        ConditionCheck and GetItem: the same test on the same item."""
        stored = self.predict.tables.prediction(reading["sensor"], slot)
        if stored is None:  # removed meanwhile: the workflow's ConditionCheck fails the same way
            return self.conflict(event_id, reading, self.other_data(reading))
        field = "data" if "data" in reading else "features"
        content = f'"{field}":{compact(reading.get(field))}'
        if stored["event_id"]["S"] != event_id:
            message = (
                f"sensor {reading['sensor']} already has a prediction by {self.endpoint} at timestamp "
                f"{formatted(reading['timestamp'])} for event_id {stored['event_id']['S']}"
            )
            return self.conflict(event_id, reading, message)
        if content not in stored["reading"]["S"]:
            return self.conflict(event_id, reading, self.other_data(reading))
        return {
            "event_id": stored["event_id"]["S"],
            "sensor": reading["sensor"],
            "timestamp": reading["timestamp"],
            "model": stored["model"]["S"],
            "endpoint": stored["endpoint"]["S"],
            "kind": stored["kind"]["S"],
            "prediction": json.loads(stored["prediction"]["S"]),
            "probability": json.loads(stored["probability"]["S"]),
            "probabilities": json.loads(stored["probabilities"]["S"]),
            "duplicate": True,
            "cached": False,
        }

    def other_data(self, reading: dict[str, Any]) -> str:
        return (
            f"sensor {reading['sensor']} already has a prediction by {self.endpoint} at timestamp "
            f"{formatted(reading['timestamp'])} for other data"
        )

    @staticmethod
    def conflict(event_id: str, reading: dict[str, Any], message: str) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "sensor": reading["sensor"],
            "timestamp": reading["timestamp"],
            "status": 409,
            "error": "Conflict",
            "message": message,
        }

    def refuse(self, index: int, reading: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
        """RecordRefusal and RefuseReading: the model refused this reading; recorded, not stored."""
        feature = scored.get("feature")
        self.predict.tables.record_failure(
            {
                "failure_id": {"S": f"{self.name}:{index}"},
                "error": {"S": scored["error"]},
                "cause": {"S": scored["message"]},
                "feature": {"S": compact(feature)},
                "status": {"N": "400"},
                "model": {"S": self.model},
                "request": {"S": compact(reading)},
                "failed_at": {"S": iso_millis(self.predict.clock())},
            }
        )
        return {
            "sensor": reading.get("sensor"),
            "timestamp": reading.get("timestamp"),
            "status": 400,
            "error": scored["error"],
            "message": scored["message"],
            "feature": feature,
        }

    def write_failed(self, event_id: str, reading: dict[str, Any], failure: StoreFailed) -> dict[str, Any]:
        """WriteFailed and RecordWriteFailure: nothing accepted is lost."""
        self.predict.tables.record_failure(
            {
                "failure_id": {"S": f"{self.name}:{event_id}"},
                "error": {"S": failure.error},
                "cause": {"S": failure.cause},
                "status": {"N": "503"},
                "model": {"S": self.model},
                "request": {"S": compact(reading)},
                "failed_at": {"S": iso_millis(self.predict.clock())},
            }
        )
        return {
            "event_id": event_id,
            "sensor": reading["sensor"],
            "timestamp": reading["timestamp"],
            "status": 503,
            "error": "StoreUnavailable",
            "message": "the prediction could not be stored; it was recorded in the failure store",
        }


@dataclass
class CacheLookup:
    """The prediction cache on the Lambda tier: the model's setting, then its entry.

    The setting is the one the workflow reads (`setting#<endpoint>`: seconds and the endpoint
    config serving). The entry's key names the model held here (its artifact's version), not the
    setting's config: a redeploy swaps the archive here up to TIER_SECONDS after the endpoint, so
    the held model, and nothing else, says whose answer an entry is. Entries are the Lambda tier's
    own (`lambda#...`): a model moved between tiers starts with a cold cache. Python has a
    clock, so an entry holds the epoch second it is fresh until, checked here (DynamoDB's TTL,
    `expires_at`, deletes it later, for space only)."""

    cache: Cache
    key: str
    seconds: int
    now: int

    @classmethod
    def of(cls, execution: Execution) -> CacheLookup | None:
        """The lookup when the model's cache is on; None when off, paused or unreadable."""
        cache = execution.predict.cache
        if cache is None:
            return None
        try:
            setting = cache.setting(execution.endpoint)
            seconds = int(setting["seconds"]["N"]) if setting and "version" in setting else 0
        except Exception:  # an unreadable cache: uncached, as the workflow's Catch goes on
            return None
        if seconds <= 0:
            return None
        given = [[r.get("data") for r in execution.readings], [r.get("features") for r in execution.readings]]
        digest = hashlib.sha256(compact(given).encode()).hexdigest()
        key = f"lambda#{execution.endpoint}#{execution.scorer.version}#{digest}"
        return cls(cache, key, seconds, int(execution.predict.clock().timestamp()))

    def hit(self) -> str | None:
        """The kept reply while it is fresh, else None."""
        try:
            entry = self.cache.entry(self.key)
            if entry and int(entry["fresh_until"]["N"]) > self.now:
                return str(entry["reply"]["S"])
        except Exception:  # a damaged entry or a failed read: the model answers
            return None
        return None

    def keep(self, reply: str) -> None:
        fresh_until = self.now + self.seconds
        item = {
            "key": {"S": self.key},
            "reply": {"S": reply},
            "fresh_until": {"N": str(fresh_until)},
            "expires_at": {"N": str(fresh_until + 3600)},
        }
        try:
            self.cache.keep(item)
        except Exception:  # a write that fails loses nothing: the reading is stored uncached
            return
