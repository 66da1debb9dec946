"""`nrt failures`: what the failure store holds, and replaying what can succeed now.

The workflow records every failure it answers with 404, 400 from the model, 424, 429 or 503,
with the original request. A 404 can succeed once the model is deployed, a 424 (the model
cannot load) once it is deployed again, and a 429 or a 503 (a timeout included) once the
model or the table has recovered; a model that rejected the features (400) would reject
them again, so those stay for a person to read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item = dict[str, AttributeValueTypeDef]  # a failure-store item, as DynamoDB's client gives and takes it

REPLAYABLE = {404, 424, 429, 503}
# The outcomes workflow's record of an outcome it could not store: its caller was answered 503
# and sends it again (outcomes are idempotent); it is kept for people, never sent to /predictions.
OUTCOME_NOT_STORED = "OutcomeNotStored"

# Answers the workflow gives only after recording the failure itself (with the request): a
# replay that ends in one of them is in the store again, under its new execution's id.
RECORDED_AGAIN = {
    (404, "ModelNotFound"),
    (424, "ModelFailed"),
    (429, "Throttled"),
    (503, "ModelUnavailable"),
    (503, "ModelNotReady"),
    (503, "ModelTimeout"),
    (503, "StoreUnavailable"),
}

Post = Callable[[dict[str, Any]], tuple[int, object]]  # a request body -> status and the parsed answer


@dataclass(frozen=True)
class Failure:
    failure_id: str
    status: int
    error: str
    model: str
    failed_at: str
    request: dict[str, Any]
    cause: str
    feature: str | None = None  # the field a model's refusal names (recorded as JSON text)

    @property
    def replayable(self) -> bool:
        return self.status in REPLAYABLE and self.error != OUTCOME_NOT_STORED


def from_item(item: Item) -> Failure:
    """A failure-store item (DynamoDB JSON) as a Failure."""

    def text(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    try:
        request = json.loads(text("request") or "{}")
    except ValueError:
        request = {}
    return Failure(
        failure_id=text("failure_id"),
        status=int(item.get("status", {}).get("N", "0")),
        error=text("error"),
        model=text("model"),
        failed_at=text("failed_at"),
        request=request if isinstance(request, dict) else {},
        cause=text("cause"),
        feature=_feature(text("feature")),
    )


def _feature(text: str) -> str | None:
    """The refusal's feature: JSON text (a name, or null) as the workflow records it."""
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return text
    return value if isinstance(value, str) else None


def to_item(failure: Failure) -> Item:
    """A Failure as the failure store keeps it (DynamoDB JSON), as the workflow records one."""
    return {
        "failure_id": {"S": failure.failure_id},
        "status": {"N": str(failure.status)},
        "error": {"S": failure.error},
        "cause": {"S": failure.cause},
        "model": {"S": failure.model},
        "failed_at": {"S": failure.failed_at},
        "request": {"S": json.dumps(failure.request, separators=(",", ":"), ensure_ascii=False)},
        **({"feature": {"S": json.dumps(failure.feature)}} if failure.feature else {}),
    }


def scan(ddb: DynamoDBClient, table: str) -> Iterator[Failure]:
    """Every failure in the store, oldest first."""
    items: list[Item] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    yield from sorted((from_item(i) for i in items), key=lambda f: (f.failed_at, f.failure_id))


def replay_body(failure: Failure) -> dict[str, Any]:
    """What to send again: the original request; a single reading from a batch gets its model."""
    body = dict(failure.request)
    if "readings" not in body and "model" not in body and failure.model:
        body["model"] = failure.model
    return body


def recorded_again(status: int, answer: object) -> bool:
    """The replay failed, and the workflow recorded it anew: a single reading's recorded error,
    or a batch whose readings were each stored or recorded on their own."""
    if not isinstance(answer, dict):
        return False
    if status == 200:
        return isinstance(answer.get("results"), list)
    return (status, answer.get("error")) in RECORDED_AGAIN


def succeeded(status: int, answer: object) -> bool:
    """A 200 for a single reading; for a batch, a 200 for every reading in it."""
    if status != 200:
        return False
    if isinstance(answer, dict) and isinstance(answer.get("results"), list):
        return all(isinstance(r, dict) and r.get("status", 200) == 200 and "error" not in r for r in answer["results"])
    return True


@dataclass
class ReplaySummary:
    replayed: int = 0
    succeeded: int = 0
    failed_again: int = 0
    skipped: int = 0


def replay(
    failures: list[Failure], post: Post, delete: Callable[[str], None], log: Callable[[str], None]
) -> ReplaySummary:
    """Send every replayable failure again; remove those that now succeed, and those that
    failed again and were recorded anew (so one failure keeps one record). A replay that did
    not reach the workflow (refused at the API, throttled, unreachable) keeps its record."""
    summary = ReplaySummary()
    for failure in failures:
        if not failure.replayable:
            summary.skipped += 1
            continue
        summary.replayed += 1
        status, answer = post(replay_body(failure))
        if succeeded(status, answer):
            delete(failure.failure_id)
            summary.succeeded += 1
            log(f"  {failure.failure_id}: {status}, removed from the failure store")
        else:
            summary.failed_again += 1
            error = answer.get("error") if isinstance(answer, dict) else answer
            if recorded_again(status, answer):
                delete(failure.failure_id)
                log(f"  {failure.failure_id}: {status} {error}; recorded again under the new attempt's id")
            else:
                log(f"  {failure.failure_id}: {status} {error}; kept")
    return summary


def table(failures: list[Failure]) -> str:
    """One row a failure, then its whole error and cause indented under it (a model's refusal
    names the feature in the cause: never cut)."""
    at = max([26, *(len(f.failed_at) for f in failures)])  # AWS's time is 24 characters, the emulator's 32
    lines = [f"{'failed at':<{at}} {'status':>6} {'model':<24} {'replay':<6} failure id"]
    for f in failures:
        replay_mark = "yes" if f.replayable else "no"
        lines.append(f"{f.failed_at:<{at}} {f.status:>6} {f.model:<24} {replay_mark:<6} {f.failure_id}")
        lines.append(f"    error: {f.error}")
        if f.feature:
            lines.append(f"    feature: {f.feature}")
        if f.cause:
            lines.append(f"    cause: {f.cause}")
    lines.append(f"({len(failures)} failure{'s' if len(failures) != 1 else ''})")
    return "\n".join(lines)
