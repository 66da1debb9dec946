"""The integrations behind the local API's routes: Step Functions executions on the embedded AWS.

/predictions runs StartSyncExecution and answers with the execution's outcome; /events runs
StartExecution: each accepted event is journaled in the state store before the 202 and run by
a small pool of workers, so a restart or a crash loses none (after EVENT_ATTEMPTS runs it goes
to the failure store instead)."""

from __future__ import annotations

import datetime
import json
import logging
import queue
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from nrt import emulator
from nrt.apigateway.contract import Answer, answer_from_execution
from nrt.emulator.server import EmbeddedAws
from nrt.emulator.wiring import TableChanges
from nrt.health import Health
from nrt.ops.failures import Failure, to_item
from nrt.state.space import RETRY_AFTER_SECONDS, DiskSpace
from nrt.state.store import Store, StoreUnavailable


def aws_error(status: int, type_: str, message: str) -> tuple[int, bytes]:
    """An AWS JSON-protocol error answer."""
    return status, json.dumps({"__type": type_, "message": message}).encode()


def json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON")


LOG = logging.getLogger("nrt.apigateway.executions")

# Runs of one accepted event before it goes to the failure store instead.
EVENT_ATTEMPTS = 3


@dataclass
class Executions:
    """Step Functions for the local API: StartSyncExecution runs the /predictions workflow in
    the calling thread; StartExecution keeps the event in the store's journal (when there is a
    store), then queues it for a pool of workers that run the /events workflow (as AWS runs it
    in the background). An event leaves the journal when its execution has run, whatever its
    outcome (the workflow records its own failures): what a stop or a crash cut short runs at
    the next start (resume())."""

    aws: EmbeddedAws
    health: Health = field(default_factory=Health)
    async_workers: int = 4
    # Accepted and not yet run, at most: beyond it StartExecution is throttled (429).
    async_queue_size: int = 10_000
    store: Store | None = None
    # Keeps the tables' changes: an answer waits until what its execution wrote is kept.
    committer: TableChanges | None = None
    # The disk under the store: while it is full, accepted events wait instead of running.
    space: DiskSpace | None = None
    _queue: queue.Queue[tuple[str, str]] = field(init=False)
    _accepting: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue = queue.Queue()
        for i in range(self.async_workers):
            worker = threading.Thread(target=self._drain, name=f"events-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def start_sync_execution(self, execution_input: str, name: str | None = None) -> dict[str, Any]:
        """StartSyncExecution's answer, once what the execution wrote is kept; records the
        outcome's HTTP status in the health window."""
        started = time.monotonic()
        try:
            result = self._execute(self.aws.state_machine_arn, execution_input, name)
        except StoreUnavailable as failure:
            cause = {"status": 503, "error": "StoreUnavailable", "message": str(failure)[:160]}
            result = {"status": "FAILED", "error": "StoreUnavailable", "cause": json.dumps(cause)}
        answer = answer_from_execution(result["status"], result.get("output"), result.get("cause"))
        batch = json.loads(execution_input).get("readings")
        self.health.record(answer.status, time.monotonic() - started, len(batch) if isinstance(batch, list) else 1)
        return result

    def start_outcomes_execution(self, execution_input: str, name: str | None = None) -> dict[str, Any]:
        """StartSyncExecution of the outcomes workflow (POST /outcomes), once what it wrote is kept."""
        try:
            return self._execute(self.aws.outcomes_state_machine_arn, execution_input, name)
        except StoreUnavailable as failure:
            cause = {"status": 503, "error": "StoreUnavailable", "message": str(failure)[:160]}
            return {"status": "FAILED", "error": "StoreUnavailable", "cause": json.dumps(cause)}

    def _execute(self, arn: str, execution_input: str, name: str | None) -> dict[str, Any]:
        """Run a workflow; return once the changes it made are kept (StoreUnavailable if not)."""
        result = emulator.start_sync_execution(
            arn, execution_input, name, account=self.aws.ctx.account, region=self.aws.ctx.region
        )
        if self.committer is not None:
            self.committer.sync()
        return result

    def start_execution(self, execution_input: str, name: str | None = None) -> dict[str, Any]:
        """StartExecution: kept and queued, or ThrottlingException when the queue is full or
        the journal cannot be written (never accepted without being kept)."""
        name = name or str(uuid.uuid4())
        emulator.check_execution_name(name)
        emulator.check_execution_input(execution_input)
        with self._accepting:
            if self._stopping.is_set():
                raise emulator.throttling("Rate exceeded: the local stack is stopping")
            if self.pending >= self.async_queue_size:
                raise emulator.throttling("Rate exceeded: the local event queue is full")
            if self.store is not None:
                try:
                    self.store.accept(name, execution_input, time.time())
                except sqlite3.IntegrityError:
                    raise emulator.execution_exists(name) from None
                except (sqlite3.Error, OSError) as failure:
                    if self.space is not None:
                        self.space.failed(failure)  # the local API answers 503 DiskFull for it
                    raise emulator.throttling(
                        f"Rate exceeded: the event journal cannot be written ({failure})"
                    ) from None
            self._queue.put((name, execution_input))
        arn = self.aws.events_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return {"executionArn": arn, "startDate": datetime.datetime.now(tz=datetime.UTC)}

    def resume(self) -> int:
        """Queue every event the journal holds (accepted before a stop or a crash); how many."""
        if self.store is None:
            return 0
        held = self.store.accepted()
        for event in held:
            self._queue.put(event)
        return len(held)

    def submit(self, body: dict[str, Any]) -> Answer:
        """Accept one request body for the background (what POST /events does)."""
        try:
            started = self.start_execution(json.dumps(body))
        except emulator.aws_errors():
            return Answer(429, {"status": 429, "error": "ServiceThrottled", "message": "the event queue is full"})
        return Answer(202, {"id": started["executionArn"].rsplit(":", 1)[1], "status": "accepted"})

    def _drain(self) -> None:
        while not self._stopping.is_set():
            try:
                name, execution_input = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                if self._held_for_space():
                    self._queue.put((name, execution_input))  # back in line, no attempt counted
                else:
                    self._run_event(name, execution_input)
            finally:
                self._queue.task_done()

    def _held_for_space(self) -> bool:
        """While the disk is full an accepted event waits (its run could not be kept): True
        after a wait of RETRY_AFTER_SECONDS, or less when stopping."""
        if self.space is None or self.space.full() is None:
            return False
        self._stopping.wait(RETRY_AFTER_SECONDS)
        return True

    def _run_event(self, name: str, execution_input: str) -> None:
        """Run one accepted event. The workflow records its own failures; what is handled here
        is the runtime failing to run it: stopping (it stays in the journal for the next
        start), or an error (tried again after a second or two, and after the last attempt,
        or when the process died running it as many times, recorded in the failure store)."""
        try:
            attempt = self.store.attempt(name) if self.store is not None else 1
        except sqlite3.Error as failure:  # the journal cannot be written (a full disk): not run yet
            if self.space is not None:
                self.space.failed(failure)
            threading.Timer(RETRY_AFTER_SECONDS, self._queue.put, ((name, execution_input),)).start()
            return
        if attempt > EVENT_ATTEMPTS:
            self._give_up(name, execution_input, f"{EVENT_ATTEMPTS} runs ended with the process")
            return
        try:
            result = self._execute(self.aws.events_state_machine_arn, execution_input, name)
        except Exception as error:
            if not self._stopping.is_set():
                self._not_run(name, execution_input, error, attempt)
            return
        outcome = answer_from_execution(result["status"], result.get("output"), result.get("cause"))
        self.health.record_event(outcome.status)
        self._settle(name)

    def _not_run(self, name: str, execution_input: str, error: Exception, attempt: int) -> None:
        """An event whose run failed: again after a while, or recorded as failed after its last
        attempt. A store that cannot keep writes yet (a full disk) is not the event's fault:
        what it wrote is kept once there is room, and the next run is answered by it."""
        if isinstance(error, StoreUnavailable):
            LOG.warning("event %s: %s; it runs again in %d s", name, error, RETRY_AFTER_SECONDS)
            threading.Timer(RETRY_AFTER_SECONDS, self._queue.put, ((name, execution_input),)).start()
            return
        LOG.error("event %s could not be run (attempt %d of %d)", name, attempt, EVENT_ATTEMPTS, exc_info=error)
        if attempt >= EVENT_ATTEMPTS:
            self._give_up(name, execution_input, f"{type(error).__name__}: {error}")
        else:
            threading.Timer(float(attempt), self._queue.put, ((name, execution_input),)).start()

    def _settle(self, name: str) -> None:
        """An event has run: out of the journal, or, when that cannot be written now (a full
        disk), again a little later (a stop before then: the next start runs it once more, and
        its stored predictions answer it as a resend)."""
        if self.store is None:
            return
        try:
            self.store.done(name)
        except sqlite3.Error as failure:
            if self.space is not None:
                self.space.failed(failure)
            if not self._stopping.is_set():
                threading.Timer(RETRY_AFTER_SECONDS, self._settle, (name,)).start()

    def _give_up(self, name: str, execution_input: str, reason: str) -> None:
        """Record an event that could not be run in the failure store (replayable, as a 503),
        then drop it from the journal; if even that fails, it stays for the next start."""
        try:
            request = json.loads(execution_input)
        except ValueError:
            request = {}
        request = request if isinstance(request, dict) else {}
        failure = Failure(
            failure_id=name,
            status=503,
            error="EventNotRun",
            model=str(request.get("model", "")),
            failed_at=datetime.datetime.now(tz=datetime.UTC).isoformat(),
            request=request,
            cause=f"the local runtime could not run this event: {reason}"[:1000],
        )
        try:
            self.aws.client("dynamodb").put_item(TableName=self.aws.ctx.refs["FailuresTable"], Item=to_item(failure))
            if self.committer is not None:
                self.committer.sync()
        except Exception:
            LOG.exception("event %s could not be recorded as failed; it stays in the journal", name)
            return
        LOG.error("event %s was recorded in the failure store: %s", name, failure.cause)
        self._settle(name)

    @property
    def pending(self) -> int:
        """Accepted events (202) whose execution has not finished yet."""
        return self._queue.unfinished_tasks

    def finish(self, timeout: float) -> int:
        """Wait until every accepted event has run; returns how many had not when the timeout
        ran out."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.pending

    def stop(self, timeout: float = 5.0) -> int:
        """Accept nothing more; let the executions in flight end (up to timeout). Returns how
        many accepted events did not run: with a store they stay journaled for the next start."""
        with self._accepting:
            self._stopping.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return self.pending
