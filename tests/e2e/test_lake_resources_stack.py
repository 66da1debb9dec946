"""End to end: the real AWS CLI against `nrt up`'s embedded AWS lists the Kinesis stream, the
Firehose delivery stream, the Glue table and the Athena work group the template declares, and
again after a restart; the Glue table it shows is the schema of the Parquet the lake wrote."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from benchmarks.stack import Stack, nrt_up
from nrt.lake.parquet import arrow_type, parquet_files, table_spec
from nrt.ops.stacks import local
from nrt.template import LocalContext, physical_name
from tests.helpers import ROOT, load_event
from tests.helpers.aws_cli import AWS, cli_env

# The four listings, each with what it must name (the logical id of the template's resource).
LISTINGS = {
    ("kinesis", "list-streams"): "PredictionsStream",
    ("firehose", "list-delivery-streams"): "PredictionsDelivery",
    ("glue", "get-tables", "--database-name", "{LakeDatabase}"): "PredictionsGlueTable",
    ("athena", "list-work-groups"): "AthenaWorkGroup",
}


def name(logical_id: str) -> str:
    """The name the template gives the resource in the local stack (template.yaml, resolved)."""
    return physical_name(logical_id, LocalContext())


def aws_cli(stack: Stack, *args: str, home: Path) -> Any:
    """The real AWS CLI against the stack's embedded AWS, dummy credentials, the stack's region."""
    env = cli_env(home)
    region = local(stack.state).region
    argv = [AWS, *args, "--endpoint-url", f"http://127.0.0.1:{stack.aws_port}", "--region", region, "--output", "json"]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def listed(answer: dict[str, Any]) -> set[str]:
    """The names a listing answers with, whichever listing it is."""
    names: set[str] = set()
    for key in ("StreamNames", "DeliveryStreamNames"):
        names.update(answer.get(key, []))
    for key in ("TableList", "WorkGroups"):
        names.update(item["Name"] for item in answer.get(key, []))
    return names


def listings(stack: Stack, home: Path) -> dict[str, set[str]]:
    """Logical id -> the names its listing shows."""
    return {
        logical_id: listed(aws_cli(stack, *(a.format(LakeDatabase=name("LakeDatabase")) for a in args), home=home))
        for args, logical_id in LISTINGS.items()
    }


def send_one_reading(stack: Stack) -> str:
    body = load_event("reading.json")
    request = urllib.request.Request(
        f"{stack.url}/predictions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
        return str(json.loads(answer.read())["event_id"])


def wait_for_parquet(lake: Path, seconds: float = 60) -> list[Path]:
    deadline = time.monotonic() + seconds
    while not (files := parquet_files(lake, table_spec())) and time.monotonic() < deadline:
        time.sleep(0.5)
    return files


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, set[str]], Stack, Path]]:
    """`nrt up` with one reading answered and in the lake, listed with the AWS CLI; then
    stopped with Ctrl-C and started again on the same state directory."""
    state, home = tmp_path_factory.mktemp("lake-resources-state"), tmp_path_factory.mktemp("aws-home")
    with nrt_up("--flush-seconds", "1", state=state) as first:
        send_one_reading(first)
        assert wait_for_parquet(state / "lake")
        before = listings(first, home)
    with nrt_up(state=state) as again:
        yield before, again, home


def test_the_aws_cli_lists_the_stream_delivery_stream_glue_table_and_work_group_the_template_declares(runs):
    before, _, _ = runs

    for logical_id, names in before.items():
        assert name(logical_id) in names, (logical_id, names)


def test_they_are_listed_the_same_after_a_restart(runs):
    before, again, home = runs

    assert listings(again, home) == before


def test_the_glue_table_the_aws_cli_shows_is_the_schema_of_the_parquet_the_lake_wrote(runs):
    _, again, home = runs
    table = aws_cli(
        again, "glue", "get-table", "--database-name", name("LakeDatabase"), "--name", name("PredictionsGlueTable"),
        home=home,
    )["Table"]  # fmt: skip
    columns = [(c["Name"], arrow_type(c["Type"])) for c in table["StorageDescriptor"]["Columns"]]

    files = parquet_files(again.state / "lake", table_spec())

    assert files
    for path in files:
        assert [(f.name, f.type) for f in pq.read_schema(path)] == columns, path
        folders = [part.split("=", 1)[0] for part in path.relative_to(again.state / "lake").parts if "=" in part]
        assert folders == [k["Name"] for k in table["PartitionKeys"]]
