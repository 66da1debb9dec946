"""The real statemachine/outcomes.asl.json on the embedded AWS: POST /outcomes' workflow, with
the signatures of models fitted here on scikit-learn's own data sets."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from nrt import emulator
from nrt.apigateway.contract import Answer, answer_from_execution
from nrt.default_model import deploy_local_endpoint
from nrt.emulator.server import EmbeddedAws
from tests.workflow.test_inference_workflow import failures_for
from training.inference import SIGNATURE, derive_signature

_ts = itertools.count(1_750_000_000_000, 1000)


def run(aws: EmbeddedAws, body: dict[str, Any]) -> Answer:
    result = emulator.start_sync_execution(
        aws.outcomes_state_machine_arn, json.dumps(body), account=aws.ctx.account, region=aws.ctx.region
    )
    aws.wiring.sync()
    return answer_from_execution(result["status"], result.get("output"), result.get("cause"))


def stored(aws: EmbeddedAws, event_id: str, model: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        aws.client("dynamodb")
        .get_item(TableName=aws.ctx.refs["OutcomesTable"], Key={"event_id": {"S": event_id}, "model": {"S": model}})
        .get("Item")
    )
    return item


def deployed(aws: EmbeddedAws, tmp: Path, name: str, estimator: Any) -> str:
    """The model's signature recorded and its endpoint made, as nrt deploy-model does (no model
    host: outcomes never call the model)."""
    directory = tmp / name
    directory.mkdir()
    (directory / SIGNATURE).write_text(derive_signature(estimator).to_json())
    deploy_local_endpoint(aws, name, directory)
    return name


@pytest.fixture(scope="module")
def models(aws: EmbeddedAws, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    tmp = tmp_path_factory.mktemp("outcome-models")
    cancer = load_breast_cancer(as_frame=True)
    wine = load_wine(as_frame=True)
    wine_names = wine.target.map(dict(enumerate(wine.target_names)))  # class_0, class_1, class_2
    diabetes = load_diabetes(as_frame=True)

    def classifier() -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression())

    return {
        "binary": deployed(aws, tmp, "oc-cancer", classifier().fit(cancer.data, cancer.target)),
        "multiclass": deployed(aws, tmp, "oc-wine", classifier().fit(wine.data, wine_names)),
        "regression": deployed(aws, tmp, "oc-diabetes", LinearRegression().fit(diabetes.data, diabetes.target)),
    }


def test_given_a_binary_model_when_an_outcome_names_its_reading_then_it_is_stored_under_the_derived_event_id(
    aws, models
):
    timestamp = next(_ts)

    answer = run(aws, {"model": models["binary"], "sensor": "till-1", "timestamp": timestamp, "outcome": 1})

    event_id = f"till-1:{timestamp}"
    assert (answer.status, answer.body) == (
        200,
        {"event_id": event_id, "model": "oc-cancer", "outcome": 1, "duplicate": False, "corrected": False},
    )
    item = stored(aws, event_id, "oc-cancer")
    assert item is not None
    assert (item["label"], item["sensor"], item["timestamp"]) == ({"S": "1"}, {"S": "till-1"}, {"N": str(timestamp)})
    assert "value" not in item and item["observed_at"]["S"].endswith("Z")


def test_given_a_label_sent_as_text_when_the_model_knows_it_as_a_number_then_it_is_the_same_label(aws, models):
    timestamp = next(_ts)
    body = {"model": models["binary"], "sensor": "till-2", "timestamp": timestamp}

    first = run(aws, {**body, "outcome": "0"})
    again = run(aws, {**body, "outcome": 0})

    assert first.body["duplicate"] is False
    assert (again.status, again.body["duplicate"], again.body["corrected"]) == (200, True, False)


def test_given_a_multiclass_model_when_an_outcome_is_one_of_its_labels_then_it_is_stored_by_event_id(aws, models):
    answer = run(aws, {"model": models["multiclass"], "event_id": "order-77", "outcome": "class_2"})

    assert answer.status == 200
    item = stored(aws, "order-77", "oc-wine")
    assert item is not None
    assert item["label"] == {"S": "class_2"}
    assert "sensor" not in item and "timestamp" not in item


def test_given_a_label_the_model_does_not_know_when_sent_then_it_is_a_400_naming_it_and_nothing_is_stored(aws, models):
    answer = run(aws, {"model": models["multiclass"], "event_id": "order-78", "outcome": "class_9"})

    assert answer.status == 400
    assert answer.body["error"] == "UnknownOutcome"
    assert answer.body["message"] == (
        'model oc-wine has no label "class_9"; its labels are ["class_0","class_1","class_2"]'
    )
    assert stored(aws, "order-78", "oc-wine") is None


def test_given_a_regression_model_when_the_outcome_is_a_number_then_it_is_stored_as_a_value(aws, models):
    answer = run(aws, {"model": models["regression"], "event_id": "patient-1", "outcome": 151.5})

    assert answer.status == 200
    item = stored(aws, "patient-1", "oc-diabetes")
    assert item is not None
    assert item["value"] == {"N": "151.5"} and "label" not in item


def test_given_a_regression_model_when_the_outcome_is_text_then_it_is_a_400(aws, models):
    answer = run(aws, {"model": models["regression"], "event_id": "patient-2", "outcome": "high"})

    assert (answer.status, answer.body["error"]) == (400, "UnknownOutcome")
    assert "regression" in answer.body["message"]


def test_given_an_unknown_model_when_an_outcome_is_sent_then_it_is_a_404(aws, models):
    answer = run(aws, {"model": "never-deployed", "event_id": "x-1", "outcome": 1})

    assert (answer.status, answer.body["error"]) == (404, "ModelNotFound")
    assert "never-deployed" in answer.body["message"]


def test_given_a_stored_outcome_when_sent_again_then_it_is_a_harmless_duplicate_and_nothing_changes(aws, models, store):
    body = {"model": models["multiclass"], "event_id": "order-79", "outcome": "class_1"}
    run(aws, body)
    changes_before = len(store.changes_after(0, 100_000))

    again = run(aws, body)

    assert (again.status, again.body["duplicate"]) == (200, True)
    assert len(store.changes_after(0, 100_000)) == changes_before  # no write: no change for the lake


def test_given_a_stored_outcome_when_another_is_sent_for_the_reading_then_it_is_a_correction_that_replaces_it(
    aws, models
):
    run(aws, {"model": models["multiclass"], "event_id": "order-80", "outcome": "class_0"})

    corrected = run(aws, {"model": models["multiclass"], "event_id": "order-80", "outcome": "class_1"})

    assert (corrected.status, corrected.body["corrected"], corrected.body["duplicate"]) == (200, True, False)
    item = stored(aws, "order-80", "oc-wine")
    assert item is not None and item["label"] == {"S": "class_1"}


def test_given_a_batch_when_one_outcome_is_refused_then_the_others_are_stored_and_each_answered_in_place(aws, models):
    timestamp = next(_ts)
    body = {
        "model": models["binary"],
        "outcomes": [
            {"sensor": "till-3", "timestamp": timestamp, "outcome": 1},
            {"event_id": "card-9", "outcome": "maybe"},
            {"event_id": "card-10", "outcome": 0},
            {"outcome": 1},
        ],
    }

    answer = run(aws, body)

    assert answer.status == 200
    assert answer.body["count"] == 4
    results = answer.body["results"]
    assert [r.get("status", 200) for r in results] == [200, 400, 200, 400]
    assert results[1]["error"] == "UnknownOutcome" and results[3]["error"] == "ValidationError"
    assert stored(aws, f"till-3:{timestamp}", "oc-cancer") is not None
    assert stored(aws, "card-10", "oc-cancer") is not None
    assert stored(aws, "card-9", "oc-cancer") is None


def test_given_no_prediction_yet_when_its_outcome_arrives_first_then_it_is_stored_to_be_joined_later(aws, models):
    future = 4_000_000_000_000  # a reading the model has not scored (and a timestamp far ahead)

    answer = run(aws, {"model": models["binary"], "sensor": "till-9", "timestamp": future, "outcome": 1})

    assert answer.status == 200
    assert stored(aws, f"till-9:{future}", "oc-cancer") is not None


@pytest.mark.parametrize(
    "body",
    [
        {"model": "oc-cancer", "outcome": 1},  # no reading named
        {"model": "oc-cancer", "sensor": "s", "timestamp": 1, "outcome": 1},  # before 2000
        {"model": "oc-cancer", "event_id": "e", "outcomes": [{"event_id": "e", "outcome": 1}]},
        {"model": "oc-cancer", "outcomes": []},
        {"model": "oc-cancer", "outcomes": [{"event_id": f"e{i}", "outcome": 1} for i in range(101)]},
    ],
    ids=["no-reading", "timestamp-before-2000", "single-and-batch", "empty-batch", "101-outcomes"],
)
def test_given_a_body_outside_the_contract_when_sent_then_it_is_a_400_before_anything_is_stored(aws, models, body):
    answer = run(aws, body)

    assert (answer.status, answer.body["error"]) == (400, "ValidationError")


def test_given_stored_and_corrected_outcomes_when_the_stream_worker_flushes_then_the_lake_s_outcomes_table_has_them(
    aws, models, store, tmp_path
):
    from nrt.lake.athena import LocalAthena
    from nrt.lake.firehose import Pending, kds_change_record, load_transform
    from nrt.lake.parquet import table_spec
    from nrt.lake.stream import Checkpoint, LakeWriter, LogReader

    timestamp = next(_ts)
    run(aws, {"model": models["binary"], "sensor": "lake-1", "timestamp": timestamp, "outcome": 0})
    run(aws, {"model": models["binary"], "sensor": "lake-1", "timestamp": timestamp, "outcome": 1})  # corrected
    run(aws, {"model": models["regression"], "event_id": "lake-2", "outcome": 99})
    predictions, outcomes = aws.ctx.refs["PredictionsTable"], aws.ctx.refs["OutcomesTable"]
    checkpoint = Checkpoint(tmp_path / "checkpoint.json")
    writer = LakeWriter(
        tmp_path, checkpoint, load_transform(), table_spec(), "us-east-1", "stream", "delivery",
        stream_id=store.stream_id, routes={outcomes: table_spec(glue_table="OutcomesGlueTable")},
    )  # fmt: skip
    reader = LogReader(store, checkpoint, [predictions, outcomes])

    while batch := reader.poll_tables():
        for shard, table, record in batch:
            change = json.dumps(kds_change_record(record, table, "us-east-1")).encode()
            writer.add(Pending(record["dynamodb"]["SequenceNumber"], shard, 1_795_342_530_000, change, table))
    writer.flush()

    rows = (
        LocalAthena(tmp_path)
        .execute(
            "SELECT event_id, model, sensor, ts, label, value, change_type FROM outcomes "
            f"WHERE event_id IN ('lake-1:{timestamp}', 'lake-2') ORDER BY event_id, changed_at, change_type"
        )
        .rows
    )
    assert rows == [
        (f"lake-1:{timestamp}", "oc-cancer", "lake-1", timestamp, "0", None, "INSERT"),
        (f"lake-1:{timestamp}", "oc-cancer", "lake-1", timestamp, "1", None, "MODIFY"),
        ("lake-2", "oc-diabetes", None, None, None, 99.0, "INSERT"),
    ]
    assert not any(p.name.startswith("outcomes") for p in (tmp_path / "predictions").rglob("*.parquet"))


@pytest.fixture
def inject(aws: EmbeddedAws) -> Any:
    from nrt.emulator import faults
    from tests.workflow.test_faults import ScriptedFaults

    def put(**script: int) -> ScriptedFaults:
        scripted = ScriptedFaults(cold_start_seconds=0.5, script=dict(script))
        faults.install(scripted, aws.wiring)
        return scripted

    yield put
    faults.install(None, aws.wiring)


def test_given_a_throttled_write_when_an_outcome_is_stored_then_it_is_retried_and_stored_once(aws, models, inject):
    injected = inject(write_error=1)

    answer = run(aws, {"model": models["binary"], "event_id": "retried-1", "outcome": 1})

    assert (answer.status, answer.body["duplicate"]) == (200, False)
    assert injected.injected["write_error"] == 1
    assert stored(aws, "retried-1", "oc-cancer") is not None


def test_given_the_table_failing_every_retry_when_an_outcome_is_sent_then_503_and_it_is_recorded_for_people(
    aws, models, inject
):
    inject(write_error=4)  # the PutItem and its 3 retries

    answer = run(aws, {"model": models["binary"], "event_id": "store-down-1", "outcome": 0})

    assert (answer.status, answer.body["error"]) == (503, "StoreUnavailable")
    assert stored(aws, "store-down-1", "oc-cancer") is None
    [failure] = [i for i in failures_for(aws, "oc-cancer") if '"store-down-1"' in i["request"]["S"]]
    assert (failure["error"], failure["status"], failure["model"]) == (
        {"S": "OutcomeNotStored"},
        {"N": "503"},
        {"S": "oc-cancer"},
    )
    assert "ProvisionedThroughputExceeded" in failure["cause"]["S"]
