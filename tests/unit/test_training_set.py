"""athena/training_set.sql and training/lake_data.py: the lake's scored readings joined with their
outcomes as a training set (latest change on each side, redeliveries once, REMOVEs out), split
by time so the newest readings are held out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from nrt.lake.athena import ATHENA_DIR, LocalAthena, QueryError
from tests.helpers.labelled_lakes import START_MS, labelled_lake, outcome, prediction, write_lake
from training.inference import Feature, Signature
from training.lake_data import TIME, TOO_FEW_LABELS, prepare_lake_channel
from training.prepare import Holdout, PreparationRefused

SQL = (ATHENA_DIR / "training_set.sql").read_text()


def training_set(lake: Path, model: str) -> pd.DataFrame:
    result = LocalAthena(lake).execute(SQL, "training_set.sql", parameters=[f"'{model}'"])
    return pd.DataFrame(result.rows, columns=result.columns)


def test_given_changes_on_both_sides_when_the_training_set_is_built_then_only_the_latest_live_pairs_remain(tmp_path):
    t = [START_MS + i * 60_000 for i in range(7)]
    predictions = [
        prediction("m", "a:1", t[1], [1.0, 2.0]),
        prediction("m", "a:2", t[2], [2.0, 3.0]),
        prediction("m", "a:3", t[3], [3.0, 4.0]),
        prediction("m", "a:4", t[4], [4.0, 5.0]),
        prediction("m", "a:4", t[4], [4.0, 5.0], change="REMOVE", at=50),  # the reading was removed
        prediction("m", "a:5", t[5], [5.0, 6.0]),
        prediction("m", "a:6", t[6], [6.0, 7.0]),
        prediction("m", "a:6", t[6], [6.5, 7.5], change="MODIFY", at=40),  # its input corrected
        prediction("m", "a:0", t[0], [0.0, 1.0]),
        prediction("other", "a:1", t[1], [1.0, 2.0]),
    ]
    outcomes = [
        outcome("m", "a:1", t[1], label="0"),
        outcome("m", "a:1", t[1], label="1", change="MODIFY", at=1000),  # the latest outcome wins
        outcome("m", "a:2", t[2], label="1"),
        outcome("m", "a:2", t[2], change="REMOVE", at=2000),  # withdrawn
        outcome("m", "a:3", t[3], label="1"),
        outcome("m", "a:3", t[3], label="1"),  # the same change delivered twice
        outcome("m", "a:4", t[4], label="0"),
        outcome("m", "a:6", t[6], label="0"),
        outcome("m", "a:0", t[0], label="1"),
        outcome("other", "a:1", t[1], label="0"),  # another model's outcome for the same reading
    ]
    write_lake(tmp_path, predictions, outcomes, "hand")

    rows = training_set(tmp_path, "m")

    assert rows["event_id"].tolist() == ["a:0", "a:1", "a:3", "a:6"]  # by reading time; a:5 has no outcome
    assert rows["label"].tolist() == ["1", "1", "1", "0"]
    assert [json.loads(i) for i in rows["input"]] == [[0.0, 1.0], [1.0, 2.0], [3.0, 4.0], [6.5, 7.5]]
    assert rows["reading_ms"].tolist() == [t[0], t[1], t[3], t[6]]
    assert training_set(tmp_path, "other")["label"].tolist() == ["0"]


def test_the_query_refuses_to_run_without_its_model_parameter(tmp_path):
    with pytest.raises(QueryError, match="1 execution parameters, 0 values"):
        LocalAthena(tmp_path).execute(SQL, "training_set.sql")


def recipe_folder(folder: Path, signature: Signature) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "signature.json").write_text(signature.to_json())
    return folder


def lake_result(lake: Path, model: str, into: Path) -> Path:
    """The query's rows as Athena's CSV result (what the Prepare job's lake input holds)."""
    into.mkdir(parents=True, exist_ok=True)
    training_set(lake, model).to_csv(into / "result.csv", index=False)
    return into


def test_given_breast_cancer_readings_with_outcomes_when_prepared_then_the_newest_are_held_out(tmp_path):
    data = load_breast_cancer()
    names = [f"f{i}" for i in range(data.data.shape[1])]
    signature = Signature(
        "binary",
        [Feature(n) for n in names],
        labels=[0, 1],
        positive_label=1,
        threshold=0.5,
        recipe={"source": "s3://bkt/data/cancer/", "label": "diagnosis", "features": None, "task": "binary"},
    )
    labelled_lake(tmp_path / "lake", "cancer", data.data, data.target)
    result = lake_result(tmp_path / "lake", "cancer", tmp_path / "result")

    found = prepare_lake_channel(recipe_folder(tmp_path / "recipe", signature), result, tmp_path / "out")

    train = pd.read_csv(tmp_path / "out" / "train.csv")
    holdout = pd.read_csv(tmp_path / "out" / "holdout.csv")
    assert len(train) + len(holdout) == len(data.target) and len(holdout) == round(len(data.target) * 0.2)
    assert pd.to_datetime(train[TIME]).max() < pd.to_datetime(holdout[TIME]).min()  # the past fits, the newest judges
    assert np.allclose(holdout[names].to_numpy(), np.round(data.data[-len(holdout) :], 6))
    assert holdout["diagnosis"].tolist() == data.target[-len(holdout) :].tolist()
    lake = found["lake"]
    assert lake["labelled_readings"] == len(data.target)
    assert lake["label_balance"] == {"0": int((data.target == 0).sum()), "1": int((data.target == 1).sum())}
    assert lake["first_reading"] < lake["last_reading"]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["lake"] == lake
    # The reading's time splits the rows and is no feature: the next model takes the served ones.
    assert json.loads((tmp_path / "out" / "signature.json").read_text())["recipe"]["features"] == names


def diabetes_signature() -> Signature:
    return Signature(
        "regression",
        [Feature(f"x{i}") for i in range(10)],
        recipe={"source": "s3://bkt/data/sugar/", "label": "target", "features": None, "task": "regression"},
    )


def test_given_diabetes_outcomes_when_the_last_days_are_held_out_then_exactly_those_readings_judge(tmp_path):
    data = load_diabetes()
    labelled_lake(tmp_path / "lake", "sugar", data.data, data.target, regression=True)
    result = lake_result(tmp_path / "lake", "sugar", tmp_path / "result")

    found = prepare_lake_channel(
        recipe_folder(tmp_path / "recipe", diabetes_signature()), result, tmp_path / "out", holdout=Holdout(days=3)
    )

    holdout = pd.read_csv(tmp_path / "out" / "holdout.csv")
    newest = pd.to_datetime(holdout[TIME]).max()
    assert (newest - pd.to_datetime(holdout[TIME]).min()) < pd.Timedelta(days=3)
    assert len(holdout) == 3 * 24  # a reading an hour, the last three days
    assert found["lake"]["value_range"]["max"] == float(data.target.max())
    assert found["lake"]["holdout"] == "the last 3 days"


def test_given_fewer_labelled_readings_than_asked_when_prepared_then_it_is_refused_before_training(tmp_path):
    data = load_diabetes()
    labelled_lake(tmp_path / "lake", "sugar", data.data[:40], data.target[:40], regression=True)
    result = lake_result(tmp_path / "lake", "sugar", tmp_path / "result")

    with pytest.raises(PreparationRefused, match=f"^{TOO_FEW_LABELS}: 40 in the lake, the gate needs at least 100"):
        prepare_lake_channel(recipe_folder(tmp_path / "recipe", diabetes_signature()), result, tmp_path / "out")
    assert not (tmp_path / "out" / "train.csv").exists()


def test_readings_on_a_whole_second_and_between_seconds_get_one_time_format_and_the_data_set_reads_them():
    from training.lake_data import data_set, training_frame

    signature = Signature("binary", [Feature("a", "number"), Feature("b", "number")], labels=[0, 1])
    rows = [  # a reading on a whole second first: the one Python writes without a fraction
        {"event_id": f"s:{ms}", "sensor": "s", "reading_ms": ms, "input": "[1, 2]", "label": str(i % 2), "value": None,
         "observed_at": None}
        for i, ms in enumerate([1_765_000_000_000, 1_765_000_000_123, 1_765_000_001_500, 1_765_000_002_000])
    ]  # fmt: skip

    frame = training_frame(pd.DataFrame(rows), signature, "failure")
    found = data_set(frame, "failure", "binary", Holdout())

    assert list(frame[TIME]) == [
        "2025-12-06T05:46:40.000+00:00",
        "2025-12-06T05:46:40.123+00:00",
        "2025-12-06T05:46:41.500+00:00",
        "2025-12-06T05:46:42.000+00:00",
    ]
    assert found["labelled_readings"] == 4 and found["label_balance"] == {"0": 2, "1": 2}
    assert (found["first_reading"], found["last_reading"]) == ("2025-12-06T05:46:40+00:00", "2025-12-06T05:46:42+00:00")


def test_given_a_served_missing_value_the_lake_never_shows_then_the_candidate_is_refused_unless_asked_for(tmp_path):
    from training.prepare import CONTRACT_REFUSED

    data = load_diabetes()
    signature = diabetes_signature()
    signature.features[2] = Feature("x2", "number", nullable=True)  # trained with gaps; production sends none
    labelled_lake(tmp_path / "lake", "sugar", data.data, data.target, regression=True)
    result = lake_result(tmp_path / "lake", "sugar", tmp_path / "result")
    recipe = recipe_folder(tmp_path / "recipe", signature)

    with pytest.raises(PreparationRefused, match=f"^{CONTRACT_REFUSED}: the candidate: column 'x2': the served model"):
        prepare_lake_channel(recipe, result, tmp_path / "out")
    found = prepare_lake_channel(recipe, result, tmp_path / "changed", contract_change=True)

    assert found["contract_changes"] == [
        "the candidate: column 'x2': the served model takes a missing value, the candidate would not"
    ]
    manifest = json.loads((tmp_path / "changed" / "manifest.json").read_text())
    assert manifest["contract_changes"] == found["contract_changes"]
