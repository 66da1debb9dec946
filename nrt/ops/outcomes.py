"""`nrt outcomes upload`: a CSV of outcomes (what really happened for scored readings) sent to
POST /outcomes in batches, each row's answer reported with its line number.

A row names its reading as the inference workflow does: `event_id`, or `sensor` and `timestamp`
(epoch ms); `model` and `outcome` always. A cell that is a JSON number (`1`, `151.5`, `-2e3`) is
sent as a number, any other as text (`007`, `yes`): the workflow compares a label by its text,
so `1` and `"1"` are the same label. Outcomes are idempotent, so uploading a file again stores
nothing twice (each row answers `duplicate`).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BATCH = 100  # the API's batch limit (the outcomes workflow's Validate)
BODY_LIMIT = 60_000  # characters: under the API's 64,000
ATTEMPTS = 4  # a 429, a 5xx or no answer is sent again, after 1, 2 and 4 s

# A request body -> the HTTP status and the parsed answer (status 0: no answer, e.g. refused connection).
Post = Callable[[dict[str, Any]], tuple[int, Any]]


class UploadError(ValueError):
    """The file cannot be uploaded as it is (its header); nothing was sent."""


@dataclass(frozen=True)
class Row:
    line: int  # in the file, the header being line 1
    model: str
    body: dict[str, Any]  # the outcome as one item of a batch


@dataclass(frozen=True)
class Refused:
    line: int
    reason: str


@dataclass
class Summary:
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    corrected: int = 0
    refused: list[Refused] = field(default_factory=list)

    def count(self, result: dict[str, Any]) -> None:
        """One accepted outcome's answer."""
        if result.get("duplicate"):
            self.duplicates += 1
        elif result.get("corrected"):
            self.corrected += 1
        else:
            self.stored += 1

    def line(self) -> str:
        return (
            f"{self.rows} outcomes: {self.stored} stored, {self.duplicates} already there, "
            f"{self.corrected} corrected, {len(self.refused)} refused"
        )


def cell_value(text: str) -> Any:
    """A JSON number as a number; any other cell as its text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text


def check_header(columns: list[str]) -> None:
    """model and outcome, and event_id or sensor and timestamp: UploadError naming what is missing."""
    missing = [c for c in ("model", "outcome") if c not in columns]
    if "event_id" not in columns and not {"sensor", "timestamp"} <= set(columns):
        missing.append("event_id (or sensor and timestamp)")
    if missing:
        raise UploadError(f"the header has no {', '.join(missing)}; its columns are {', '.join(columns) or 'none'}")


def read_rows(path: Path) -> Iterator[Row | Refused]:
    """Each data row as an outcome to send, or refused here with the reason (a blank row is skipped)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        check_header(list(reader.fieldnames or []))
        for record in reader:
            line = reader.line_num
            if not any((v or "").strip() for v in record.values()):
                continue
            yield parse_row(line, record)


def parse_row(line: int, record: dict[str, str | None]) -> Row | Refused:
    cells = {k: (v or "").strip() for k, v in record.items() if k}
    if not cells.get("model"):
        return Refused(line, "no model")
    if not cells.get("outcome"):
        return Refused(line, "no outcome")
    body: dict[str, Any] = {"outcome": cell_value(cells["outcome"])}
    if cells.get("event_id"):
        body["event_id"] = cells["event_id"]
    sensor, timestamp = cells.get("sensor"), cells.get("timestamp", "")
    if sensor and timestamp.isdigit():
        body["sensor"], body["timestamp"] = sensor, int(timestamp)
    elif "event_id" not in body:
        return Refused(line, "needs event_id, or sensor and timestamp (epoch milliseconds)")
    return Row(line, cells["model"], body)


def batches(rows: Iterable[Row], size: int = BATCH) -> Iterator[list[Row]]:
    """Consecutive rows of one model, at most `size` and BODY_LIMIT characters a request."""
    batch: list[Row] = []
    length = 0
    for row in rows:
        item = len(json.dumps(row.body)) + 2
        if batch and (row.model != batch[0].model or len(batch) >= size or length + item > BODY_LIMIT):
            yield batch
            batch, length = [], 0
        batch.append(row)
        length += item
    if batch:
        yield batch


def send(batch: list[Row], post: Post, wait: Callable[[float], None] = time.sleep) -> tuple[int, Any]:
    """POST one batch; a throttle, a 5xx or no answer is sent again (outcomes are idempotent)."""
    body = {"model": batch[0].model, "outcomes": [r.body for r in batch]}
    status, answer = post(body)
    for attempt in range(1, ATTEMPTS):
        if status not in (0, 429) and status < 500:
            break
        wait(2.0 ** (attempt - 1))
        status, answer = post(body)
    return status, answer


def refusal(status: int, answer: Any) -> str:
    """A whole request's refusal, as one line."""
    if isinstance(answer, dict):
        return f"{status} {answer.get('error', '')}: {answer.get('message', '')}"
    return f"{status} {answer}"


def account(batch: list[Row], status: int, answer: Any, summary: Summary) -> None:
    """Each row's answer into the summary: the batch's results in order, or its one refusal for every row."""
    results = answer.get("results") if status == 200 and isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != len(batch):
        summary.refused += [Refused(r.line, refusal(status, answer)) for r in batch]
        return
    for row, result in zip(batch, results, strict=True):
        if result.get("status", 200) != 200:
            summary.refused.append(Refused(row.line, refusal(result["status"], result)))
        else:
            summary.count(result)


def upload(
    path: Path,
    post: Post,
    log: Callable[[str], None] = print,
    size: int = BATCH,
    wait: Callable[[float], None] = time.sleep,
    every: float = 2.0,
) -> Summary:
    """Send every row of the file; say progress every `every` seconds and each refused row by its line."""
    summary = Summary()
    parsed = list(read_rows(path))
    rows = [r for r in parsed if isinstance(r, Row)]
    summary.refused += [r for r in parsed if isinstance(r, Refused)]
    summary.rows = len(parsed)
    said = time.monotonic()
    sent = 0
    for batch in batches(rows, size):
        status, answer = send(batch, post, wait)
        account(batch, status, answer, summary)
        sent += len(batch)
        if time.monotonic() - said >= every:
            log(f"  {sent:,} of {len(rows):,} rows sent ({len(summary.refused)} refused so far)")
            said = time.monotonic()
    summary.refused.sort(key=lambda r: r.line)
    return summary
