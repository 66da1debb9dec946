"""The ports of serving.py on boto3 clients: the tables (DynamoDB), the workflow (Step
Functions) and the models held in memory (S3's `lambda/<endpoint>/model.tar.gz`). AWS's
clients in Lambda (app.py); the embedded AWS's locally (nrt/apigateway/server.py)."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from threadpoolctl import ThreadpoolController

from functions.predict.serving import Scorer, StoreFailed, WorkflowRefused
from training import container
from training.package import unpack

# How long a model's tier (and its artifact's version) is taken as known before S3 is asked
# again: a `nrt deploy-model --tier` applies within this long on every warm function.
TIER_SECONDS = 10.0
CONDITION_FAILED = "ConditionalCheckFailedException"


def lambda_key(endpoint: str) -> str:
    """Where an endpoint's model is put for the Lambda tier, in the model artifacts bucket."""
    return f"lambda/{endpoint}/model.tar.gz"


@dataclass
class DynamoTables:
    """serving.Tables on a DynamoDB client (its own retries take throttling first)."""

    dynamodb: Any
    predictions: str
    event_ids: str
    failures: str

    def put_prediction(self, item: dict[str, Any]) -> bool:
        return self._put(self.predictions, item, "attribute_not_exists(sensor)")

    def claim_event_id(self, item: dict[str, Any]) -> bool:
        values = {":sensor": item["sensor"], ":slot": item["timestamp_endpoint"]}
        condition = "attribute_not_exists(event_id) OR (sensor = :sensor AND timestamp_endpoint = :slot)"
        return self._put(self.event_ids, item, condition, values)

    def prediction(self, sensor: str, slot: str) -> dict[str, Any] | None:
        key = {"sensor": {"S": sensor}, "timestamp_endpoint": {"S": slot}}
        try:
            found: dict[str, Any] | None = self.dynamodb.get_item(
                TableName=self.predictions, Key=key, ConsistentRead=True
            ).get("Item")
        except ClientError as error:
            raise _store_failed(error) from error
        return found

    def record_failure(self, item: dict[str, Any]) -> None:
        # As the workflow's RecordFailure: retried (by the client) and never given up silently.
        self.dynamodb.put_item(TableName=self.failures, Item=item)

    def _put(self, table: str, item: dict[str, Any], condition: str, values: dict[str, Any] | None = None) -> bool:
        extra = {"ExpressionAttributeValues": values} if values else {}
        try:
            self.dynamodb.put_item(TableName=table, Item=item, ConditionExpression=condition, **extra)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                return False
            raise _store_failed(error) from error
        return True


def _store_failed(error: ClientError) -> StoreFailed:
    code = str(error.response.get("Error", {}).get("Code", "ClientError"))
    return StoreFailed(f"DynamoDB.{code}", str(error))


@dataclass
class StepFunctionsWorkflow:
    """serving.Workflow on a Step Functions client."""

    stepfunctions: Any

    def start_sync_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.stepfunctions.start_sync_execution(
                stateMachineArn=request["stateMachineArn"], name=request["name"], input=request["input"]
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "ClientError"))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            raise WorkflowRefused(code, status, str(error)) from error
        return result


@dataclass
class _Held:
    checked: float
    etag: str | None
    scorer: Scorer | None


@dataclass
class HeldModels:
    """The models on the Lambda tier, held in memory: an endpoint is on it while its artifact
    is at lambda_key(endpoint); S3 is asked again after TIER_SECONDS, and a new artifact
    (another ETag) is loaded in place of the old one, so a new version never answers with the
    old model for longer than that."""

    s3: Any
    bucket: str
    directory: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "nrt-lambda-models")
    seconds: float = field(default_factory=lambda: TIER_SECONDS)
    now: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = print
    _held: dict[str, _Held] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, endpoint: str) -> Scorer | None:
        held = self._held.get(endpoint)
        if held is not None and self.now() - held.checked < self.seconds:
            return held.scorer
        with self._lock:
            held = self._held.get(endpoint)
            if held is None or self.now() - held.checked >= self.seconds:
                held = self._refresh(endpoint, held)
                self._held[endpoint] = held
        return held.scorer

    def _refresh(self, endpoint: str, held: _Held | None) -> _Held:
        etag = self._etag(endpoint)
        if etag is None:
            return _Held(self.now(), None, None)
        if held is not None and held.etag == etag and held.scorer is not None:
            return _Held(self.now(), etag, held.scorer)
        try:
            scorer = self._load(endpoint, etag)
        except Exception as error:  # any load failure: the endpoint tier answers instead
            self.log(f"{endpoint}: its Lambda-tier model does not load ({error}); the workflow answers for it")
            scorer = None
        return _Held(self.now(), etag, scorer)

    def _etag(self, endpoint: str) -> str | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=lambda_key(endpoint))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return str(head["ETag"]).strip('"')

    def _load(self, endpoint: str, etag: str) -> Scorer:
        target = self.directory / endpoint / etag
        if not (target / "model.joblib").is_file():
            with tempfile.TemporaryDirectory() as scratch:
                archive = Path(scratch) / "model.tar.gz"
                self.s3.download_file(self.bucket, lambda_key(endpoint), str(archive))
                unpack(archive, target)
        served = container.load(target)
        # One OpenMP thread, as the local model hosts run (OMP_NUM_THREADS=1): a reading gains
        # nothing from more, and the idle threads spin on the CPU that the API (locally) or the
        # function's fraction of a core (on Lambda) needs. OpenMP's setting is per thread, so it
        # is made around each call (14 µs), in the thread that scores.
        return HeldScorer(served, etag, ThreadpoolController())


@dataclass
class HeldScorer:
    """A model held in memory, named by its artifact's ETag (`version`: the prediction cache keys
    its answers by it)."""

    served: Any
    version: str
    pools: Any  # threadpoolctl's controller

    def __call__(self, body: str) -> tuple[int, str]:
        with self.pools.limit(limits=1, user_api="openmp"):
            reply = container.answer(self.served, body, "application/json", "application/json")
        return reply.status, reply.body


@dataclass
class DynamoCache:
    """The CacheTable through a DynamoDB client (serving.Cache)."""

    ddb: Any
    table: str

    def setting(self, endpoint: str) -> dict[str, Any] | None:
        found = self.ddb.get_item(TableName=self.table, Key={"key": {"S": f"setting#{endpoint}"}})
        return found.get("Item")  # type: ignore[no-any-return]

    def entry(self, key: str) -> dict[str, Any] | None:
        return self.ddb.get_item(TableName=self.table, Key={"key": {"S": key}}).get("Item")  # type: ignore[no-any-return]

    def keep(self, item: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.table, Item=item)
