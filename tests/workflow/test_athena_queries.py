"""Athena in the embedded AWS (nrt/emulator/athena.py): a query started with boto3 or by a state
machine runs over the local lake, its CSV result lands where the stack's work group keeps
results, and its state, reason and results answer as Athena's do."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nrt.emulator.server import EmbeddedAws
from nrt.lake.athena import LakeQueries
from nrt.template import LocalContext, physical_name
from tests.helpers.emulator import make_machine, sync

COUNT_PER_MODEL = (
    "SELECT model, count(*) AS readings, avg(probability) AS mean_probability "
    "FROM predictions GROUP BY model ORDER BY model"
)


@pytest.fixture
def lake_wired(aws: EmbeddedAws, lake: Path) -> Iterator[Path]:
    """The test's small lake (tests/helpers/lakes.py) is the lake the embedded AWS's Athena reads."""
    before = aws.wiring.athena
    aws.wiring.athena = LakeQueries(lake)
    yield lake
    aws.wiring.athena = before


def work_group(aws: EmbeddedAws) -> str:
    return physical_name("AthenaWorkGroup", LocalContext(stack_name=aws.ctx.stack_name))


def database(aws: EmbeddedAws) -> str:
    return str(aws.ctx.refs["LakeDatabase"])


def finished(aws: EmbeddedAws, query_id: str) -> dict[str, Any]:
    """GetQueryExecution once the query has ended, polled as a user polls it."""
    athena = aws.client("athena")
    for _ in range(200):
        found: dict[str, Any] = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        assert found["Status"]["State"] in ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED")
        if found["Status"]["State"] in ("SUCCEEDED", "FAILED"):
            return found
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not end")


def start(aws: EmbeddedAws, sql: str, **extra: Any) -> str:
    answer = aws.client("athena").start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database(aws)}, WorkGroup=work_group(aws), **extra
    )
    return str(answer["QueryExecutionId"])


def test_given_a_lake_when_a_query_runs_then_its_csv_lands_in_s3_and_its_results_page_with_the_header_first(
    aws, lake_wired
):
    query_id = start(aws, COUNT_PER_MODEL, ResultConfiguration={"OutputLocation": "s3://elsewhere/ignored/"})
    execution = finished(aws, query_id)

    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["WorkGroup"] == work_group(aws)
    assert execution["Statistics"]["DataScannedInBytes"] > 0
    assert (
        execution["Statistics"]["TotalExecutionTimeInMillis"] >= execution["Statistics"]["EngineExecutionTimeInMillis"]
    )
    # The work group enforces its settings: the result goes where it keeps results, not where the caller asked.
    results_bucket = aws.ctx.refs["AthenaResultsBucket"]
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{results_bucket}/results/{query_id}.csv"
    s3 = aws.client("s3")
    body = s3.get_object(Bucket=results_bucket, Key=f"results/{query_id}.csv")["Body"].read().decode()
    lines = body.splitlines()
    assert lines[0] == '"model","readings","mean_probability"'
    assert lines[1].startswith('"candidate","1","0.91')
    assert [r["model"] for r in csv.DictReader(io.StringIO(body))] == ["candidate", "failure", "penguins", "price"]
    assert '"price","2",' in body and body.split('"price","2",')[1].startswith("\n")  # NULL: an empty field
    metadata = json.loads(s3.get_object(Bucket=results_bucket, Key=f"results/{query_id}.csv.metadata")["Body"].read())
    assert [c["Name"] for c in metadata["ColumnInfo"]] == ["model", "readings", "mean_probability"]

    athena = aws.client("athena")
    first = athena.get_query_results(QueryExecutionId=query_id, MaxResults=3)
    assert [c["Type"] for c in first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == ["varchar", "bigint", "double"]
    assert [d["VarCharValue"] for d in first["ResultSet"]["Rows"][0]["Data"]] == [
        "model",
        "readings",
        "mean_probability",
    ]
    assert len(first["ResultSet"]["Rows"]) == 3
    second = athena.get_query_results(QueryExecutionId=query_id, MaxResults=3, NextToken=first["NextToken"])
    assert [r["Data"][0]["VarCharValue"] for r in second["ResultSet"]["Rows"]] == ["penguins", "price"]
    assert second["ResultSet"]["Rows"][1]["Data"][2] == {}  # NULL has no VarCharValue
    assert "NextToken" not in second


def test_given_a_query_the_lake_cannot_answer_when_it_runs_then_it_fails_with_the_reason_and_has_no_results(
    aws, lake_wired
):
    query_id = start(aws, "SELECT no_such_column FROM predictions")
    execution = finished(aws, query_id)

    assert execution["Status"]["State"] == "FAILED"
    assert "no_such_column" in execution["Status"]["StateChangeReason"]
    assert execution["Status"]["AthenaError"]["ErrorCategory"] == 2
    with pytest.raises(ClientError) as refused:
        aws.client("athena").get_query_results(QueryExecutionId=query_id)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "FAILED" in refused.value.response["Error"]["Message"]


def test_given_a_work_group_with_no_result_location_when_no_location_is_asked_then_the_query_is_refused(aws):
    with pytest.raises(ClientError) as refused:
        aws.client("athena").start_query_execution(QueryString="SELECT 1", WorkGroup="primary")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "output location is required" in refused.value.response["Error"]["Message"]


def query_machine(aws: EmbeddedAws) -> str:
    """startQueryExecution.sync in the stack's work group, then getQueryResults; a failure caught."""
    states = {
        "Query": {
            "Type": "Task",
            "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
            "Parameters": {
                "QueryString.$": "$.sql",
                "QueryExecutionContext": {"Database": database(aws)},
                "WorkGroup": work_group(aws),
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
            "Next": "Results",
        },
        "Results": {
            "Type": "Task",
            "Resource": "arn:aws:states:::athena:getQueryResults",
            "Parameters": {"QueryExecutionId.$": "$.QueryExecution.QueryExecutionId", "MaxResults": 10},
            "End": True,
        },
        "Failed": {"Type": "Pass", "End": True},
    }
    return make_machine(aws, states, "Query")


def test_given_a_state_machine_when_it_runs_a_query_with_sync_then_the_next_state_reads_its_results(aws, lake_wired):
    answer = sync(aws, query_machine(aws), {"sql": COUNT_PER_MODEL})

    assert answer["status"] == "SUCCEEDED", answer
    rows = json.loads(answer["output"])["ResultSet"]["Rows"]
    assert [r["Data"][0]["VarCharValue"] for r in rows] == ["model", "candidate", "failure", "penguins", "price"]


def test_given_a_state_machine_when_its_query_fails_then_the_task_fails_with_the_query_execution_as_cause(
    aws, lake_wired
):
    answer = sync(aws, query_machine(aws), {"sql": "SELECT no_such_column FROM predictions"})

    assert answer["status"] == "SUCCEEDED", answer
    error = json.loads(answer["output"])["error"]
    assert error["Error"] == "States.TaskFailed"
    cause = json.loads(error["Cause"])
    assert cause["QueryExecution"]["Status"]["State"] == "FAILED"
    assert "no_such_column" in cause["QueryExecution"]["Status"]["StateChangeReason"]
