"""statemachine/monitor.asl.json, the real ASL on the embedded AWS: the live quality of each model
from the lake's model_quality view (run by the embedded Athena over a lake of real predictions
and outcomes), published to CloudWatch with the training value its endpoint's tags hold."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import f1_score, mean_absolute_error

from nrt.default_model import deploy_local_endpoint
from nrt.emulator.server import MONITOR_STATE_MACHINE, EmbeddedAws
from nrt.lake.athena import LakeQueries, LocalAthena
from nrt.lake.drift import measure, trained
from nrt.ops.deploy import drift_key, upload_drift_query
from nrt.template import state_machine_definition
from tests.helpers.outcome_lakes import Labelled, three_labelled_models, write_labelled_lake, write_model_folder

TRAINED = {"cancer": {"f1": 0.95}, "wine": {"macro_f1": 0.9}, "progression": {"mae": 40.0}}


@pytest.fixture(scope="module")
def labelled() -> list[Labelled]:
    return three_labelled_models()


@pytest.fixture
def wired(aws: EmbeddedAws, labelled: list[Labelled], tmp_path: Path) -> Iterator[Path]:
    """The lake the embedded Athena reads: the three models' predictions and outcomes. cancer and
    progression are deployed from folders holding their training metrics; wine has no endpoint."""
    lake = write_labelled_lake(tmp_path / "lake", labelled)
    s3 = aws.client("s3")
    for one in labelled:
        folder = write_model_folder(tmp_path / "models", one, TRAINED[one.model])
        if one.model != "wine":
            endpoint = deploy_local_endpoint(aws, one.model, folder)
            if one.model == "cancer":  # progression's model was deployed without its drift query
                upload_drift_query(s3, aws.ctx.refs["ModelArtifactsBucket"], one.model, endpoint, folder, print)
    before = aws.wiring.athena
    aws.wiring.athena = LakeQueries(lake)
    yield lake
    aws.wiring.athena = before


def run_monitor(aws: EmbeddedAws, min_labelled: str) -> dict[str, Any]:
    """The stack's monitor (provisioned as nrt up provisions it), with QualityMinLabelled set as a
    deploy would set it, run to its end."""
    aws.ctx.parameters["QualityMinLabelled"] = min_labelled
    sfn = aws.client("stepfunctions")
    arn = aws.ctx.refs[MONITOR_STATE_MACHINE]
    sfn.update_state_machine(stateMachineArn=arn, definition=state_machine_definition(MONITOR_STATE_MACHINE, aws.ctx))
    # moto's GetMetricStatistics cuts StartTime to the whole second: a run started in the second
    # an earlier run on this worker's embedded AWS last published in would read that run's points.
    time.sleep(1 - time.time() % 1)
    execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input="{}")["executionArn"]
    deadline = time.monotonic() + 60
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def published(aws: EmbeddedAws, run: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each model's value of each metric the run published in the stack's quality namespace."""
    cloudwatch = aws.client("cloudwatch")
    namespace = f"{aws.ctx.stack_name}/ModelQuality"
    found: dict[str, dict[str, float]] = {}
    for metric in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]:
        model = metric["Dimensions"][0]["Value"]
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric["MetricName"],
            Dimensions=metric["Dimensions"],
            StartTime=run["startDate"],
            EndTime=run["stopDate"] + datetime.timedelta(seconds=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        if points:  # the embedded AWS is shared by this module's tests: an earlier run's are left out
            found.setdefault(model, {})[metric["MetricName"]] = max(p["Maximum"] for p in points)
    return found


def test_given_enough_labels_then_live_and_training_quality_are_published_for_each_endpoints_alarm(
    aws, wired, labelled
):
    result = run_monitor(aws, "100")

    assert result["status"] == "SUCCEEDED", result
    got = published(aws, result)
    cancer, progression = labelled[0], labelled[2]
    assert got["cancer"]["LabelledReadings"] == len(cancer.truth) == 171
    assert got["cancer"]["LiveQuality"] == pytest.approx(
        f1_score(cancer.truth, cancer.predicted, pos_label="malignant"), abs=1e-9
    )
    assert got["cancer"]["TrainingQuality"] == 0.95 and got["cancer"]["QualityDirection"] == 1
    assert got["progression"]["LiveQuality"] == pytest.approx(
        mean_absolute_error(progression.truth, progression.predicted), abs=1e-9
    )
    assert got["progression"]["TrainingQuality"] == 40.0 and got["progression"]["QualityDirection"] == -1


def test_given_too_few_labels_or_no_endpoint_then_only_the_live_figures_are_published_and_nothing_can_alarm(aws, wired):
    result = run_monitor(aws, "200")

    assert result["status"] == "SUCCEEDED", result
    got = published(aws, result)
    assert set(got) == {"cancer", "progression", "wine"}
    for model in got:  # 171, 133 and 54 labelled: under 200; wine has no endpoint either
        assert set(got[model]) - {"WorstDriftPsi"} == {"LabelledReadings", "LiveQuality"}, model
    assert got["wine"]["LabelledReadings"] == 54


def test_given_a_lake_the_query_cannot_read_then_the_run_fails_with_athenas_reason(aws, wired, tmp_path):
    aws.wiring.athena = None  # no lake wired: the embedded Athena has nothing to read
    # Only the quality query runs (its failure then ends the run, not a drift query cut short).
    aws.client("s3").delete_object(Bucket=aws.ctx.refs["ModelArtifactsBucket"], Key=drift_key("nrt-cancer"))

    result = run_monitor(aws, "100")

    assert result["status"] == "FAILED"
    history = aws.client("stepfunctions").get_execution_history(executionArn=result["executionArn"])["events"]
    failed = [e for e in history if e["type"] == "TaskFailed"]
    assert failed and "QueryExecution" in json.loads(failed[-1]["taskFailedEventDetails"]["cause"])


def test_an_endpoint_with_a_drift_query_has_its_worst_feature_psi_published_and_one_without_none(aws, wired, tmp_path):
    result = run_monitor(aws, "100")

    assert result["status"] == "SUCCEEDED", result
    got = published(aws, result)
    found = trained(tmp_path / "models" / "cancer")
    assert found is not None
    worst = max(measure(LocalAthena(wired), "cancer", *found, 24.0), key=lambda d: d.psi)
    assert got["cancer"]["WorstDriftPsi"] == pytest.approx(worst.psi, abs=1e-4)
    assert "WorstDriftPsi" not in got["progression"]  # no drift query: no training profile deployed


@pytest.fixture
def crowded(aws: EmbeddedAws) -> Iterator[int]:
    """More endpoints with the stack's prefix than one listEndpoints page holds (100), none with
    a drift query; removed afterwards, as the embedded AWS is shared by the worker's tests."""
    sm = aws.client("sagemaker")
    fillers = [
        deploy_local_endpoint(aws, f"crowd-{uuid.uuid4().hex[:6]}-{i:03d}", Path("/nonexistent")) for i in range(101)
    ]
    pages = sm.get_paginator("list_endpoints").paginate(NameContains=aws.prefix)
    yield sum(len(page["Endpoints"]) for page in pages)
    for name in fillers:
        sm.delete_endpoint(EndpointName=name)


def test_given_more_endpoints_than_one_page_lists_then_each_has_its_drift_query_looked_for(aws, wired, crowded):
    result = run_monitor(aws, "100")

    assert result["status"] == "SUCCEEDED", result
    history = aws.client("stepfunctions").get_paginator("get_execution_history")
    events = [e for page in history.paginate(executionArn=result["executionArn"]) for e in page["events"]]
    looked = [
        json.loads(e["stateEnteredEventDetails"]["input"])["endpoint"]
        for e in events
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "FindDriftQuery"
    ]
    assert crowded > 100 and len(looked) == len(set(looked)) == crowded
    assert "WorstDriftPsi" in published(aws, result)["cancer"]
