"""Athena on this machine: a query started in the embedded AWS runs on LocalAthena (DuckDB over the
local lake the runtime wires in, nrt/lake/athena.py), its CSV result and `.metadata` land at the
query's output location in the embedded S3, and GetQueryExecution / GetQueryResults answer as
Athena does; and the optimised Step Functions integration `arn:aws:states:::athena:*`, with
startQueryExecution.sync."""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nrt.emulator.registry import patch, replace_attr
from nrt.emulator.sagemaker_jobs import client_error_event, epoch_ms_values, push_response, sync_task_failed
from nrt.emulator.wiring import LakeQueryError, wired

# --- queries over the local lake -----------------------------------------------------------

PAGE_ROWS = 1000  # GetQueryResults' largest MaxResults
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
NO_OUTPUT_LOCATION = (
    "No output location provided. An output location is required either through the Workgroup "
    "result configuration setting or as an API input."
)
# Athena's ErrorCategory: 1 system, 2 user (the query itself), 3 other.
USER_ERROR = 2


@dataclass
class LocalQuery:
    """One query execution as it runs here: its state, why it changed, its times and its result."""

    query_id: str
    output: str  # s3://bucket/prefix/<id>.csv
    state: str = "QUEUED"
    reason: str | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    completed: float | None = None
    scanned_bytes: int = 0
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self, state: str, reason: str | None = None) -> None:
        if self.state in TERMINAL:
            return
        self.state, self.reason, self.completed = state, reason, time.time()
        self.done.set()

    def status(self) -> dict[str, Any]:
        """GetQueryExecution's Status."""
        out: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.completed is not None:
            out["CompletionDateTime"] = self.completed
        if self.reason is not None:
            out["StateChangeReason"] = self.reason
            if self.state == "FAILED":
                out["AthenaError"] = {"ErrorCategory": USER_ERROR, "Retryable": False, "ErrorMessage": self.reason}
        return out

    def statistics(self) -> dict[str, Any]:
        """GetQueryExecution's Statistics: the queue, engine and total times, the bytes read."""
        queued = int(((self.started or self.submitted) - self.submitted) * 1000)
        engine = int(((self.completed or time.time()) - (self.started or self.submitted)) * 1000)
        return {
            "EngineExecutionTimeInMillis": engine,
            "DataScannedInBytes": self.scanned_bytes,
            "TotalExecutionTimeInMillis": queued + engine,
            "QueryQueueTimeInMillis": queued,
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": 0,
            "ResultReuseInformation": {"ReusedPreviousResult": False},
        }

    def column_info(self) -> list[dict[str, Any]]:
        """ResultSetMetadata.ColumnInfo, as Athena describes a SELECT's columns."""
        return [
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                "Type": kind,
                "Precision": 0,
                "Scale": 0,
                "Nullable": "UNKNOWN",
                "CaseSensitive": kind == "varchar",
            }
            for name, kind in zip(self.columns, self.types, strict=True)
        ]


# Every query started here, by its QueryExecutionId (moto's backends are one per process too).
QUERIES: dict[str, LocalQuery] = {}

_ATHENA_TYPES = {
    "VARCHAR": "varchar",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "HUGEINT": "decimal",
    "DOUBLE": "double",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
}


def athena_type(duckdb_type: str) -> str:
    """A DuckDB result column's type under the name Athena (Trino) gives it."""
    if duckdb_type.endswith("[]"):
        return "array"
    for prefix, name in (("DECIMAL", "decimal"), ("MAP", "map"), ("STRUCT", "row")):
        if duckdb_type.startswith(prefix):
            return name
    return _ATHENA_TYPES.get(duckdb_type, duckdb_type.lower())


def _timestamp(value: datetime.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _array(value: list[Any] | tuple[Any, ...]) -> str:
    return "[" + ", ".join("null" if v is None else str(athena_text(v)) for v in value) + "]"


def _map(value: dict[Any, Any]) -> str:
    return "{" + ", ".join(f"{k}={athena_text(v)}" for k, v in value.items()) + "}"


# How Athena writes each kind of value that str() does not write as it does (checked in order).
_TEXTS: list[tuple[type | tuple[type, ...], Callable[[Any], str]]] = [
    (bool, lambda v: "true" if v else "false"),
    (datetime.datetime, _timestamp),
    ((list, tuple), _array),
    (dict, _map),
]


def athena_text(value: Any) -> str | None:
    """A value as Athena writes it in a result (None for SQL NULL)."""
    if value is None:
        return None
    for kinds, text in _TEXTS:
        if isinstance(value, kinds):
            return text(value)
    return str(value)


def result_csv(columns: list[str], rows: list[list[str | None]]) -> bytes:
    """Athena's CSV result: a header, every value in double quotes, NULL as an empty field."""

    def line(values: list[str | None]) -> str:
        return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values)

    header: list[str | None] = list(columns)
    return "".join(line(r) + "\n" for r in [header, *rows]).encode()


def output_location(workgroup: dict[str, Any] | None, requested: dict[str, Any] | None, query_id: str) -> str:
    """Where a query's result goes: the workgroup's location when it enforces its settings (or
    none was asked for), else the one asked for; `<location>/<id>.csv`."""
    settings = (workgroup or {}).get("Configuration", {})
    own = settings.get("ResultConfiguration", {}).get("OutputLocation")
    asked = (requested or {}).get("OutputLocation")
    chosen = own if own and (settings.get("EnforceWorkGroupConfiguration", True) or not asked) else asked
    if not chosen:
        raise ValueError(NO_OUTPUT_LOCATION)
    return f"{chosen.rstrip('/')}/{query_id}.csv"


def run_query(
    query: LocalQuery, sql: str, parameters: list[str], put_object: Callable[[str, str, bytes], None]
) -> None:
    """Run the query (its ExecutionParameters bound) on the wired local lake; write its CSV and
    .metadata; finish it."""
    query.state, query.started = "RUNNING", time.time()
    athena = wired().athena
    if athena is None:
        query.finish("FAILED", "no local lake wired: start the embedded AWS with nrt up")
        return
    try:
        result = athena.execute(sql, parameters)
    except LakeQueryError as error:
        query.finish("FAILED", str(error).removeprefix("query: "))
        return
    query.columns = list(result.columns)
    query.types = [athena_type(t) for t in result.types]
    query.rows = [[athena_text(v) for v in row] for row in result.rows]
    query.scanned_bytes = athena.scanned_bytes(sql)
    bucket, _, key = query.output.removeprefix("s3://").partition("/")
    try:
        put_object(bucket, key, result_csv(query.columns, query.rows))
        # Athena's .metadata is binary (the column descriptions); here the same as JSON.
        put_object(bucket, f"{key}.metadata", json.dumps({"ColumnInfo": query.column_info()}).encode())
    except Exception as error:  # the bucket is missing or refuses the write: the query fails, as on AWS
        query.finish("FAILED", f"Unable to write the query result to {query.output}: {error}")
        return
    query.finish("SUCCEEDED")


def result_page(query: LocalQuery, max_results: int | None, token: str | None) -> dict[str, Any]:
    """GetQueryResults: the header row first (on the first page only), then up to MaxResults rows."""
    header: list[str | None] = list(query.columns)
    rows = [header, *query.rows]
    start = int(token) if token else 0
    size = min(max_results or PAGE_ROWS, PAGE_ROWS)
    page = rows[start : start + size]
    answer: dict[str, Any] = {
        "UpdateCount": 0,
        "ResultSet": {
            "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in page],
            "ResultSetMetadata": {"ColumnInfo": query.column_info()},
        },
    }
    if start + size < len(rows):
        answer["NextToken"] = str(start + size)
    return answer


@patch(
    "fidelity",
    "a query runs over the local lake: state, reason and statistics, CSV result and .metadata in S3, paged results",
    "tests/workflow/test_athena_queries.py::test_given_a_lake_when_a_query_runs_then_its_csv_lands_in_s3_and_its_results_page_with_the_header_first",
    upstream="docs/upstream/athena-queries.md (not filed)",
)
def _patch_athena_queries() -> None:
    from moto.athena.models import AthenaBackend
    from moto.athena.responses import AthenaResponse
    from moto.core.exceptions import JsonRESTError
    from moto.s3.models import s3_backends

    original_start = AthenaBackend.start_query_execution

    def start_query_execution(
        self: Any,
        query: str,
        context: str,
        config: dict[str, Any],
        workgroup: str,
        execution_parameters: list[str] | None,
    ) -> str:
        # moto runs nothing: every query SUCCEEDS at once with no rows (or rows queued through its
        # own API). Athena runs it, writes <id>.csv and <id>.csv.metadata where the workgroup (or
        # the request) says, and can fail with a reason.
        group = self.get_work_group(workgroup or "primary")
        query_id = original_start(self, query, context, config, workgroup or "primary", execution_parameters)
        try:
            where = output_location(group, config, query_id)
        except ValueError as error:
            self.executions.pop(query_id, None)
            raise JsonRESTError("InvalidRequestException", str(error)) from error
        self.executions[query_id].config = {**(config or {}), "OutputLocation": where}
        local = QUERIES[query_id] = LocalQuery(query_id, where)
        s3 = s3_backends[self.account_id][self.partition]

        def put(bucket: str, key: str, body: bytes) -> None:
            s3.put_object(bucket, key, body)

        given = list(execution_parameters or [])
        threading.Thread(
            target=run_query, args=(local, query, given, put), name=f"athena-{query_id}", daemon=True
        ).start()
        return str(query_id)

    replace_attr(AthenaBackend, "start_query_execution", start_query_execution)

    original_stop = AthenaBackend.stop_query_execution

    def stop_query_execution(self: Any, exec_id: str) -> None:
        original_stop(self, exec_id)
        if exec_id in QUERIES:
            QUERIES[exec_id].finish("CANCELLED", "Query was cancelled by the user")

    replace_attr(AthenaBackend, "stop_query_execution", stop_query_execution)

    original_get = AthenaResponse.get_query_execution

    def get_query_execution(self: Any) -> str:
        answer: str = original_get(self)
        local = QUERIES.get(self._get_param("QueryExecutionId"))
        if local is None:
            return answer
        found = json.loads(answer)
        found["QueryExecution"]["Status"] = local.status()
        found["QueryExecution"]["Statistics"] = local.statistics()
        return json.dumps(found)

    replace_attr(AthenaResponse, "get_query_execution", get_query_execution)

    original_results = AthenaResponse.get_query_results

    def get_query_results(self: Any) -> Any:
        local = QUERIES.get(self._get_param("QueryExecutionId"))
        if local is None:
            return original_results(self)
        if local.state in ("QUEUED", "RUNNING"):
            return self.error(f"Query has not yet finished. Current state: {local.state}", 400)
        if local.state != "SUCCEEDED":
            return self.error(f"Query did not finish successfully. Final query state: {local.state}", 400)
        return json.dumps(result_page(local, self._get_param("MaxResults"), self._get_param("NextToken")))

    replace_attr(AthenaResponse, "get_query_results", get_query_results)


# --- the optimised Athena integration ---------------------------------------------------------

# The actions AWS documents for the optimised Athena integration (only the first has .sync).
ATHENA_OPTIMISED_ACTIONS = {"startQueryExecution", "stopQueryExecution", "getQueryExecution", "getQueryResults"}


@patch(
    "fidelity",
    "the optimised Athena integration, with startQueryExecution.sync",
    "tests/workflow/test_athena_queries.py::test_given_a_state_machine_when_it_runs_a_query_with_sync_then_the_next_state_reads_its_results",
    upstream="docs/upstream/athena-integration.md (not filed)",
)
def _patch_athena_integration() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    # As for SageMaker: moto's .sync path needs the callback endpoint that .waitForTaskToken sets
    # up; the token pattern itself is refused below.
    patterns: set[Any] = {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken}

    class StateTaskServiceAthena(StateTaskServiceCallback):
        """arn:aws:states:::athena:<action>[.sync]: moto lists Athena as unsupported."""

        def __init__(self) -> None:
            super().__init__(supported_integration_patterns=patterns)

        def _wait_for_task_token(self, env: Any, resource_runtime_part: Any, normalised_parameters: Any) -> None:
            raise RuntimeError(f"{self.resource.resource_arn}: .waitForTaskToken is not supported")

        def _get_supported_parameters(self) -> set[str] | None:
            action = self.resource.api_action
            if action not in ATHENA_OPTIMISED_ACTIONS:
                return None  # moto then refuses the resource, as AWS does
            return set(_athena_model().operation_model(action[0].upper() + action[1:]).input_shape.members)

        def _client(self, resource_runtime_part: Any, credentials: Any) -> Any:
            return boto_client.boto_client_for(
                service="athena", region=resource_runtime_part.region, state_credentials=credentials
            )

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                code = ex.response["Error"]["Code"]
                name = f"Athena.{code}" if code.endswith("Exception") else f"Athena.{code}Exception"
                return client_error_event(self, env, name, ex.response["Error"]["Message"])
            return super()._from_error(env=env, ex=ex)

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
        ) -> None:
            push_response(self, env, self._client(resource_runtime_part, state_credentials), normalised_parameters)

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
        ) -> Callable[[], Any]:
            if self._get_boto_service_action() != "start_query_execution":
                raise ValueError(f"athena:{self.resource.api_action}.sync is not an Athena .sync action")
            client = self._client(resource_runtime_part, state_credentials)
            query_id = env.stack[-1]["QueryExecutionId"]

            def resolve() -> Any:
                # AWS's .sync answer is the query's GetQueryExecution once it has ended. A query
                # running here is awaited (up to moto's 0.5 s between checks), not polled.
                local = QUERIES.get(query_id)
                if local is not None:
                    local.done.wait(timeout=0.5)
                found = client.get_query_execution(QueryExecutionId=query_id)
                found.pop("ResponseMetadata", None)
                state = found["QueryExecution"]["Status"]["State"]
                if state in ("QUEUED", "RUNNING"):
                    return None
                if state == "SUCCEEDED":
                    return epoch_ms_values(found)
                raise sync_task_failed(self, env, found)

            return resolve

    original = getattr(state_task_factory, "state_task_service_for")  # noqa: B009

    def state_task_service_for(service_name: str) -> Any:
        return StateTaskServiceAthena() if service_name == "athena" else original(service_name)

    replace_attr(state_task_factory, "state_task_service_for", state_task_service_for)


def _athena_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("athena")
