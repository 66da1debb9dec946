"""A column of dates splits the rows by time (the newest held out) and is no model feature:
`nrt train --csv` finds it among all the columns (or takes --time-column), records it in the
recipe, and retraining on fresh CSV files with newer dates is no contract change."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from nrt.cli import main
from training.inference import SIGNATURE, InvalidInput, Signature
from training.prepare import MANIFEST, PreparationRefused, prepare_channel
from training.sagemaker_train import recipe_from
from training.train import Recipe, train


def with_days(frame: pd.DataFrame, folder: Path, name: str, first: str = "2025-01-01") -> Path:
    """The frame with a `day` per row (ISO 8601 text), shuffled so the file is out of date order."""
    frame = frame.assign(day=pd.date_range(first, periods=len(frame), freq="D").strftime("%Y-%m-%d"))
    path = folder / name
    frame.sample(frac=1, random_state=0).to_csv(path, index=False)
    return path


def diabetes(folder: Path, first: str = "2025-01-01") -> Path:
    return with_days(load_diabetes(as_frame=True, scaled=False).frame, folder, "diabetes.csv", first)


def cancer(folder: Path) -> Path:
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    return with_days(frame, folder, "cancer.csv")


def nrt_train(tmp_path: Path, name: str, source: Path, *flags: str) -> int:
    return main(["train", name, "--csv", str(source), "--state-dir", str(tmp_path / "state"), *flags])


def model(tmp_path: Path, name: str) -> Path:
    return tmp_path / "state" / "models" / name


def reading(source: Path, drop: tuple[str, ...]) -> dict[str, object]:
    row = pd.read_csv(source).drop(columns=list(drop)).iloc[0]
    return {"features": {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}}


def test_given_a_date_column_when_trained_then_it_splits_the_rows_and_is_no_feature(tmp_path, capsys):
    source = cancer(tmp_path)

    code = nrt_train(tmp_path, "tumour", source, "--label", "target")

    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "time column 'day' (every value an ISO 8601 date; --time-column to choose)" in out
    assert "to judge (time: the newest 114 rows by 'day')" in out
    signature = Signature.from_dict(json.loads((model(tmp_path, "tumour") / SIGNATURE).read_text()))
    assert "day" not in signature.feature_names and len(signature.features) == 30
    assert signature.recipe is not None and signature.recipe["time_column"] == "day"
    # A reading of today is scored as any other: the model never saw a date.
    assert len(signature.row(reading(source, ("target", "day")), 0)) == 30
    with pytest.raises(InvalidInput, match="unknown feature 'day'"):
        signature.row({"features": {**reading(source, ("target",))["features"], "day": "2026-12-05"}}, 0)


def test_given_features_without_the_date_when_trained_then_the_split_is_still_by_time(tmp_path, capsys):
    source = diabetes(tmp_path)

    code = nrt_train(tmp_path, "sugar", source, "--label", "target", "--features", "age,bmi,bp,s5")

    assert code == 0, capsys.readouterr().err
    assert "to judge (time: the newest 88 rows by 'day')" in capsys.readouterr().out
    card = json.loads((model(tmp_path, "sugar") / "preparation.json").read_text())
    assert card["date_range"]["column"] == "day" and card["date_range"]["last"].startswith("2026-03-18")


def test_given_the_date_named_in_features_when_trained_then_it_is_refused_saying_why(tmp_path, capsys):
    source = diabetes(tmp_path)

    code = nrt_train(tmp_path, "sugar", source, "--label", "target", "--features", "age,bmi,day")

    assert code == 2
    err = capsys.readouterr().err
    assert "--features names 'day', the time column that splits the rows: a date is no feature" in err
    assert not model(tmp_path, "sugar").exists()


def test_given_a_time_column_that_holds_no_dates_when_trained_then_it_is_refused(tmp_path, capsys):
    source = diabetes(tmp_path)

    code = nrt_train(tmp_path, "sugar", source, "--label", "target", "--time-column", "bmi")

    assert code == 2
    assert "--time-column bmi: not a column of" in capsys.readouterr().err


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe folder of a model trained by `nrt train` on load_diabetes with a day per row."""
    folder = tmp_path_factory.mktemp("dated")
    source = diabetes(folder)
    assert nrt_train(folder, "sugar", source, "--label", "target") == 0
    recipe = folder / "recipe"
    recipe.mkdir()
    (recipe / SIGNATURE).write_text((model(folder, "sugar") / SIGNATURE).read_text())
    (recipe / source.name).write_bytes(source.read_bytes())
    return recipe


def with_fresh(served: Path, tmp_path: Path, fresh: pd.DataFrame) -> Path:
    folder = tmp_path / "recipe"
    folder.mkdir()
    for path in served.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    fresh.to_csv(folder / "fresh.csv", index=False)
    return folder


def test_given_a_fresh_csv_of_newer_dates_when_retrained_then_it_is_no_contract_change(served, tmp_path):
    fresh = pd.read_csv(served / "diabetes.csv").head(50)
    fresh["day"] = pd.date_range("2026-11-01", periods=50, freq="D").strftime("%Y-%m-%d")
    folder = with_fresh(served, tmp_path, fresh)

    found = prepare_channel(folder, tmp_path / "out")

    assert found["contract_changes"] == []
    assert found["date_range"]["last"] == "2026-12-20T00:00:00+00:00"
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["split"] == "time: the newest 98 rows by 'day'"
    retrained = recipe_from(folder, tmp_path / "scratch")
    assert retrained.time_column == "day"
    train(tmp_path / "m", retrained)
    signature = json.loads((tmp_path / "m" / SIGNATURE).read_text())
    assert "day" not in [f["name"] for f in signature["features"]]
    assert signature["recipe"]["time_column"] == "day"  # the next retraining splits the same way


def test_given_a_fresh_csv_without_the_time_column_when_retrained_then_it_is_refused_by_name(served, tmp_path):
    fresh = pd.read_csv(served / "diabetes.csv").head(5).drop(columns=["day"])
    folder = with_fresh(served, tmp_path, fresh)

    with pytest.raises(PreparationRefused, match=r"^fresh.csv: column 'day': missing: the time column that splits"):
        prepare_channel(folder, tmp_path / "out")


def test_given_an_old_recipe_whose_date_is_a_feature_when_fresh_dates_arrive_then_it_still_retrains(tmp_path):
    source = diabetes(tmp_path)
    old = tmp_path / "old"
    train(old, Recipe(str(source), "target", None, "regression"))  # as before: no time_column recorded
    signature = json.loads((old / SIGNATURE).read_text())
    assert "day" in [f["name"] for f in signature["features"]]
    signature["recipe"].pop("time_column")
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / SIGNATURE).write_text(json.dumps(signature))
    (recipe / source.name).write_bytes(source.read_bytes())
    fresh = pd.read_csv(source).head(20).assign(day=pd.date_range("2026-12-01", periods=20).strftime("%Y-%m-%d"))
    fresh.to_csv(recipe / "fresh.csv", index=False)

    found = prepare_channel(recipe, tmp_path / "out")

    assert found["contract_changes"] == []  # new dates are no new category
    assert found["split"] == "time: the newest 92 rows by 'day'"
