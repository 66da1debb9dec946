"""The Prepare job checks fresh CSV files against the contract being served: the signature.json
inside the serving model's model.tar.gz (its `--serving` input), not the recipe folder's copy."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from training.inference import SIGNATURE
from training.prepare import PreparationRefused, main, prepare_channel, served_signature
from training.train import Recipe, train


@pytest.fixture(scope="module")
def recipe_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on load_diabetes with a year (never empty): its recipe folder as deploy writes it."""
    folder = tmp_path_factory.mktemp("served-contract")
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["year"] = 2000 + np.arange(len(frame)) % 20
    frame.to_csv(folder / "diabetes.csv", index=False)
    train(folder / "model", Recipe(str(folder / "diabetes.csv"), "target", None, "regression"))
    recipe = folder / "recipe"
    recipe.mkdir()
    (recipe / SIGNATURE).write_text((folder / "model" / SIGNATURE).read_text())
    (recipe / "diabetes.csv").write_bytes((folder / "diabetes.csv").read_bytes())
    (recipe / "fresh.csv").write_text(frame.head(30).assign(year=np.nan).to_csv(index=False))
    return recipe


def serving_input(recipe_folder: Path, into: Path, year_nullable: bool) -> Path:
    """The serving input: a model.tar.gz whose signature says whether year may be empty."""
    signature = json.loads((recipe_folder / SIGNATURE).read_text())
    for feature in signature["features"]:
        if feature["name"] == "year":
            feature["nullable"] = year_nullable
    into.mkdir()
    (into / SIGNATURE).write_text(json.dumps(signature))
    with tarfile.open(into / "model.tar.gz", "w:gz") as tar:
        tar.add(into / SIGNATURE, arcname=SIGNATURE)
    (into / SIGNATURE).unlink()
    return into


def test_given_a_served_contract_where_year_may_be_empty_then_a_file_without_years_is_no_contract_change(
    recipe_folder, tmp_path
):
    serving = serving_input(recipe_folder, tmp_path / "serving", year_nullable=True)

    found = prepare_channel(recipe_folder, tmp_path / "out", serving=serving)

    assert found["contract_changes"] == [] and found["rows_in"] == 442 + 30
    prepared = json.loads((tmp_path / "out" / SIGNATURE).read_text())
    assert {f["name"]: f for f in prepared["features"]}["year"]["nullable"] is True


def test_without_a_serving_archive_the_recipe_folders_signature_is_the_contract_and_refuses_the_file(
    recipe_folder, tmp_path
):
    assert served_signature(None) is None and served_signature(tmp_path) is None
    (tmp_path / "model.tar.gz").write_bytes(b"not a model archive")  # the gate finds it unscorable too
    assert served_signature(tmp_path) is None

    with pytest.raises(PreparationRefused, match=re.escape("fresh.csv: column 'year': 30 empty values")):
        prepare_channel(recipe_folder, tmp_path / "out")


def test_the_processing_entry_point_reads_the_contract_from_the_serving_archive(recipe_folder, tmp_path):
    strict = serving_input(recipe_folder, tmp_path / "strict", year_nullable=False)
    loose = serving_input(recipe_folder, tmp_path / "loose", year_nullable=True)
    common = ["--input", str(recipe_folder), "--exit-message", str(tmp_path / "message")]

    refused = main([*common, "--output", str(tmp_path / "a"), "--serving", str(strict)])
    accepted = main([*common, "--output", str(tmp_path / "b"), "--serving", str(loose)])

    assert (refused, accepted) == (1, 0)
    assert "fresh.csv: column 'year'" in (tmp_path / "message").read_text()
