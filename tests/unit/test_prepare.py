"""training/prepare.py: the declared preparation rules on real data, the contract check before a
merge, the contract-change flag, and recipes (old and new) that retrain from a prepared channel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

from training.dataset import is_prepared
from training.inference import SIGNATURE
from training.prepare import (
    HOLDOUT,
    MANIFEST,
    PREPARATION_VERSION,
    TRAIN,
    PreparationRefused,
    main,
    prepare,
    prepare_channel,
    sha256,
)
from training.sagemaker_train import recipe_from
from training.train import MODEL_CARD, Recipe, train


def wine(folder: Path, rows: slice = slice(None)) -> Path:
    frame = load_wine(as_frame=True).frame.iloc[rows]
    frame = frame.rename(columns=lambda c: c.replace("/", "_").replace(" ", "_"))
    frame["target"] = [f"class_{t}" for t in frame["target"]]
    path = folder / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def diabetes_with_years(folder: Path) -> Path:
    """load_diabetes with a year per row (a number) and a visit date per row (ISO 8601 text)."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["year"] = 2000 + np.arange(len(frame)) % 20
    frame["visit"] = pd.date_range("2024-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    path = folder / "diabetes.csv"
    frame.sample(frac=1, random_state=0).to_csv(path, index=False)  # dates out of order in the file
    return path


def recipe(path: Path, label: str, task: str) -> dict:
    return {"source": str(path), "label": label, "features": None, "task": task, "seed": 7}


def test_given_duplicates_and_unlabelled_rows_when_prepared_then_each_rule_counts_what_it_dropped(tmp_path):
    source = wine(tmp_path)
    frame = pd.read_csv(source)
    dirty = pd.concat([frame, frame.iloc[:12], frame.iloc[20:25].assign(target=None)], ignore_index=True)
    dirty.to_csv(source, index=False)

    found = prepare([source], tmp_path / "out", recipe(source, "target", "multiclass"))

    steps = {s["rule"]: (s["rows_in"], s["rows_out"]) for s in found["steps"]}
    assert found["rows_in"] == 178 + 12 + 5
    assert steps["duplicates"] == (195, 183)
    assert steps["unlabelled"] == (183, 178)
    assert found["rows_out"] == {"train": 142, "holdout": 36}
    assert found["preparation_version"] == PREPARATION_VERSION
    assert found["sources"][0]["rows"] == 195 and len(found["sources"][0]["sha256"]) == 64
    balance = found["label_balance"]
    assert balance["holdout"] == {"class_0": 12, "class_1": 14, "class_2": 10}  # stratified: 59/71/48 of 178
    assert len(pd.read_csv(tmp_path / "out" / TRAIN)) == 142 and len(pd.read_csv(tmp_path / "out" / HOLDOUT)) == 36


def test_given_a_time_column_when_prepared_then_the_newest_rows_are_the_holdout_and_the_range_is_stated(tmp_path):
    source = diabetes_with_years(tmp_path)

    found = prepare([source], tmp_path / "out", recipe(source, "target", "regression"))

    train_rows, holdout = pd.read_csv(tmp_path / "out" / TRAIN), pd.read_csv(tmp_path / "out" / HOLDOUT)
    assert train_rows["visit"].max() < holdout["visit"].min()
    assert found["date_range"] == {
        "column": "visit",
        "first": "2024-01-01T00:00:00+00:00",
        "last": "2025-03-17T00:00:00+00:00",
        "holdout_from": holdout["visit"].min() + "T00:00:00+00:00",
    }
    assert found["split"] == f"time: the newest {len(holdout)} rows by 'visit'"
    assert found["label_range"]["min"] >= 25 and found["label_range"]["max"] <= 346


def test_a_far_out_regression_label_is_dropped_and_the_fences_are_stated(tmp_path):
    source = diabetes_with_years(tmp_path)
    frame = pd.read_csv(source)
    frame.loc[0, "target"] = 99_999.0
    frame.to_csv(source, index=False)

    found = prepare([source], tmp_path / "out", recipe(source, "target", "regression"))

    [outliers] = [s for s in found["steps"] if s["rule"] == "outliers"]
    assert outliers["rows_in"] - outliers["rows_out"] == 1
    low, high = outliers["label_fences"]
    assert low < 25 and 346 < high < 99_999


def test_an_infinite_number_drops_its_row(tmp_path):
    source = wine(tmp_path)
    frame = pd.read_csv(source)
    frame.loc[3, "alcohol"] = np.inf
    frame.to_csv(source, index=False)

    found = prepare([source], tmp_path / "out", recipe(source, "target", "multiclass"))

    [infinite] = [s for s in found["steps"] if s["rule"] == "infinite"]
    assert (infinite["rows_in"], infinite["rows_out"]) == (178, 177)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe folder of a model trained on load_diabetes with a year: its signature and CSV."""
    folder = tmp_path_factory.mktemp("served")
    source = diabetes_with_years(folder)
    model = folder / "model"
    train(model, Recipe(str(source), "target", None, "regression"))
    recipe_folder = folder / "recipe"
    recipe_folder.mkdir()
    (recipe_folder / SIGNATURE).write_text((model / SIGNATURE).read_text())
    (recipe_folder / "diabetes.csv").write_bytes(source.read_bytes())
    return recipe_folder


def with_file(served: Path, tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "recipe"
    folder.mkdir()
    for path in served.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / name).write_text(text)
    return folder


def test_given_a_one_row_three_column_csv_when_prepared_then_it_is_refused_naming_the_file_and_the_column(
    served, tmp_path
):
    # The case: merged, it made year nullable (a change to the served contract), and was promoted.
    folder = with_file(served, tmp_path, "fresh.csv", "age,sex,target\n50,1,120\n")

    with pytest.raises(PreparationRefused) as refused:
        prepare_channel(folder, tmp_path / "out")

    assert str(refused.value).startswith("fresh.csv: column 'bmi': missing: the model takes it")
    assert "(fresh.csv: bmi, bp, s1, s2, s3, s4, s5, s6, year, visit)" in str(refused.value)
    assert "--contract-change" in str(refused.value)
    assert not (tmp_path / "out" / TRAIN).exists()


def test_a_value_that_is_no_number_and_an_unknown_column_are_refused_by_name(served, tmp_path):
    header = pd.read_csv(served / "diabetes.csv", nrows=1)
    row = header.assign(year="soon")
    folder = with_file(served, tmp_path, "fresh.csv", row.to_csv(index=False))

    with pytest.raises(PreparationRefused, match=r"fresh.csv: column 'year': 'soon' is not a number"):
        prepare_channel(folder, tmp_path / "out")


def test_a_fresh_file_that_fits_the_contract_is_merged_and_the_recipe_records_its_real_sources(served, tmp_path):
    fresh = pd.read_csv(served / "diabetes.csv").head(40).assign(target=lambda f: f["target"] + 1)
    folder = with_file(served, tmp_path, "fresh.csv", fresh.to_csv(index=False))

    found = prepare_channel(folder, tmp_path / "out", uri="s3://bucket/data/sugar/")

    assert [s["file"] for s in found["sources"]] == [
        "s3://bucket/data/sugar/diabetes.csv",
        "s3://bucket/data/sugar/fresh.csv",
    ]
    assert found["rows_in"] == 442 + 40 and found["contract_changes"] == []
    recorded = json.loads((tmp_path / "out" / SIGNATURE).read_text())["recipe"]
    assert recorded["source"] == "s3://bucket/data/sugar/"
    assert recorded["sources"] == found["sources"]
    assert "rows" not in recorded and "noise" not in recorded  # the synthetic generator's settings
    assert is_prepared(tmp_path / "out")


def test_a_gap_in_a_row_without_a_label_changes_no_contract_for_that_row_is_dropped(served, tmp_path):
    fresh = pd.read_csv(served / "diabetes.csv").head(3)
    fresh.loc[0, ["year", "target"]] = [None, None]  # year takes no gap, but this row has no label
    folder = with_file(served, tmp_path, "fresh.csv", fresh.to_csv(index=False))

    found = prepare_channel(folder, tmp_path / "out")

    assert found["contract_changes"] == []
    assert {s["rule"]: s["rows_in"] - s["rows_out"] for s in found["steps"]}["unlabelled"] == 1


def test_with_contract_change_the_file_is_merged_and_the_manifest_says_what_changed(served, tmp_path):
    folder = with_file(served, tmp_path, "fresh.csv", "age,sex,target\n50,1,120\n")

    found = prepare_channel(folder, tmp_path / "out", contract_change=True)

    assert found["contract_change"] is True
    assert "fresh.csv: column 'year': missing: the model takes it" in found["contract_changes"]
    assert found["rows_in"] == 443


def test_the_processing_entry_point_exits_1_with_the_reason_in_its_exit_message(served, tmp_path):
    folder = with_file(served, tmp_path, "fresh.csv", "age,sex,target\n50,1,120\n")
    (tmp_path / "output").mkdir()
    message = tmp_path / "output" / "message"

    code = main(["--input", str(folder), "--output", str(tmp_path / "out"), "--exit-message", str(message)])

    assert code == 1
    assert message.read_text().startswith("preparation refused: fresh.csv: column 'bmi': missing")


def test_an_old_recipe_with_a_temp_path_and_synthetic_settings_still_retrains(served, tmp_path):
    folder = with_file(served, tmp_path, "unused.txt", "")
    signature = json.loads((folder / SIGNATURE).read_text())
    signature["recipe"] = {**signature["recipe"], "source": "/tmp/tmpab12/train.csv", "rows": 20000, "noise": 0.0}
    signature["recipe"].pop("sources", None)
    (folder / SIGNATURE).write_text(json.dumps(signature))

    found = recipe_from(folder, tmp_path / "scratch")

    assert found.data == str(tmp_path / "scratch" / "prepared")
    assert is_prepared(Path(found.data))
    evaluation = train(tmp_path / "m", found)
    assert evaluation.metric == "rmse"
    card = json.loads((tmp_path / "m" / MODEL_CARD).read_text())
    assert card["preparation"]["version"] == PREPARATION_VERSION
    assert card["preparation"]["split"].startswith("time: the newest")
    assert json.loads((tmp_path / "m" / "preparation.json").read_text()) == json.loads(
        (tmp_path / "scratch" / "prepared" / MANIFEST).read_text()
    )


def test_nrt_train_csv_prepares_the_file_first_and_the_card_cites_the_manifest(tmp_path, capsys):
    from nrt.cli import main

    source = wine(tmp_path)
    frame = pd.read_csv(source)
    pd.concat([frame, frame.iloc[:9], frame.iloc[30:33].assign(target=None)]).to_csv(source, index=False)

    code = main(["train", "vino", "--csv", str(source), "--label", "target", "--state-dir", str(tmp_path / "state")])

    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "prepared (version 1): 190 rows in, 142 to fit and 36 to judge" in out
    assert "dropped 9 duplicates, 3 unlabelled" in out
    model = tmp_path / "state" / "models" / "vino"
    card = json.loads((model / MODEL_CARD).read_text())
    assert card["preparation"]["dropped"] == {"duplicates": 9, "unlabelled": 3}
    assert card["preparation"]["manifest"] == "preparation.json"
    recipe = json.loads((model / SIGNATURE).read_text())["recipe"]
    assert recipe["sources"] == [{"file": str(source), "sha256": sha256(source), "rows": 190}]
    assert "rows" not in recipe and "noise" not in recipe


def test_the_prepared_rows_outcome_contract_is_exactly_what_the_model_trained_on_them_gives(tmp_path):
    from training.sagemaker_train import check_outcome_contract, quality_value

    source = wine(tmp_path)
    prepare([source], tmp_path / "out", recipe(source, "target", "multiclass"))
    written = json.loads((tmp_path / "out" / "outcome_contract.json").read_text())
    train(tmp_path / "model", Recipe(str(source), "target", None, "multiclass"))

    assert written == {"kind": "multiclass", "labels": ["class_0", "class_1", "class_2"]}
    check_outcome_contract(tmp_path / "model", tmp_path / "out")  # the same: no error
    evaluation = json.loads((tmp_path / "model" / "evaluation.json").read_text())
    assert quality_value(tmp_path / "model") == evaluation["metrics"]["macro_f1"]
    (tmp_path / "out" / "outcome_contract.json").write_text(json.dumps({**written, "labels": ["class_0"]}))
    with pytest.raises(ValueError, match="the model gives"):
        check_outcome_contract(tmp_path / "model", tmp_path / "out")


def test_a_candidate_contract_that_loses_what_the_served_model_takes_differs_by_name_kind_category_and_gap():
    from training.inference import Feature
    from training.prepare import candidate_differences

    served = [
        Feature("clinic", "category", True, ["east", "north"]),
        Feature("dose", "number"),
        Feature("code", "category", False, ["1", "2"]),
        Feature("age", "number"),
    ]
    candidate = [
        Feature("clinic", "category", False, ["north", "west"]),
        Feature("dose", "number"),
        Feature("code", "number"),
        Feature("weight", "number"),
    ]

    found = [str(d) for d in candidate_differences(served, candidate)]

    assert found == [
        "the candidate: column 'age': the served model takes it, the candidate would not",
        "the candidate: column 'weight': the candidate would take it, the served model does not",
        "the candidate: column 'clinic': the served model takes a missing value, the candidate would not",
        "the candidate: column 'clinic': category 'east' is served and unknown to the candidate (east)",
        "the candidate: column 'clinic': category 'west' is new in the candidate",
        "the candidate: column 'code': a category when served, a number in the candidate",
    ]
    assert candidate_differences(served, served) == []
