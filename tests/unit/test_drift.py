"""Drift without labels: a model's recent readings in the lake against its training profile, by
SQL over the lake, with verdicts that agree with the statistics a drift library uses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance
from sklearn.datasets import load_breast_cancer, load_wine

from nrt.lake.athena import LocalAthena
from nrt.lake.drift import MISSING, measure
from nrt.lake.parquet import table_spec, write_rows
from tests.helpers.lakes import NOW, lake_row
from training.examples import shop_frame
from training.profile import OTHER, profile
from training.train import features_of


def lake_of(tmp_path, model: str, frame: pd.DataFrame, named: bool = True):
    """The readings of `frame` in a lake, as the pipeline stores them (input: the features as JSON)."""
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        values = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
        given = values if named else list(values.values())
        rows.append(lake_row(f"s{i % 7}", i, model, "0", 0.1, input=json.dumps(given)))
    write_rows(tmp_path, table_spec(), rows, NOW, f"{model}.parquet")
    return LocalAthena(tmp_path)


def cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    return frame.rename(columns=lambda c: c.replace(" ", "_"))


def drift_of(tmp_path, reference: pd.DataFrame, recent: pd.DataFrame, named: bool = True):
    features = features_of(reference)
    athena = lake_of(tmp_path, "m", recent, named)
    return {d.feature: d for d in measure(athena, "m", profile(reference, features), list(reference), named, 24)}


def library_verdict(reference: pd.Series, recent: pd.Series) -> bool:
    """Evidently's defaults above 1,000 reference rows: a number drifts when the Wasserstein
    distance, in reference standard deviations, is 0.1 or more; a category when the Jensen-Shannon
    distance of the shares is 0.1 or more (both computed by scipy, as Evidently does)."""
    if not pd.api.types.is_numeric_dtype(reference):
        labels = sorted(set(reference.dropna()) | set(recent.dropna()))
        shares = [s.value_counts(normalize=True).reindex(labels, fill_value=0).to_numpy() for s in (reference, recent)]
        return bool(jensenshannon(*shares) >= 0.1)
    ref, now = reference.dropna(), recent.dropna()
    return bool(wasserstein_distance(ref, now) / max(ref.std(), 1e-12) >= 0.1)


def test_readings_from_the_training_distribution_do_not_drift(tmp_path):
    # GIVEN a model trained on every row of a real data set, and recent readings drawn from it again
    reference = cancer().drop(columns="target")
    recent = reference.sample(3000, replace=True, random_state=1)
    # WHEN drift is measured over the lake
    drifts = drift_of(tmp_path, reference, recent)
    # THEN no feature drifts, and every reading was counted
    assert {d.verdict for d in drifts.values()} == {"no drift"}
    assert {d.readings for d in drifts.values()} == {3000}


def test_one_class_only_drifts_where_the_library_says_so(tmp_path):
    # GIVEN the same model, and recent readings of malignant tumours only
    data = cancer()
    reference = data.drop(columns="target")
    recent = reference[data.target == 0].sample(3000, replace=True, random_state=2)
    drifts = drift_of(tmp_path, reference, recent)
    # THEN the verdicts (drift or not) agree with the library's statistics feature by feature, but
    # for features near both thresholds
    ours = {name: d.verdict != "no drift" for name, d in drifts.items()}
    theirs = {name: library_verdict(reference[name], recent[name]) for name in reference}
    differ = [name for name in ours if ours[name] != theirs[name]]
    assert sum(ours.values()) >= 20  # most of the 30 features move with the diagnosis
    assert len(differ) <= 3, differ
    # where they differ, the library's 0.1 of a standard deviation flagged a move PSI weighs at
    # under 0.1 but well above the noise of readings drawn from the training rows (under 0.01)
    assert all(theirs[name] and 0.03 <= drifts[name].psi < 0.1 for name in differ)


def test_shifted_wine_features_drift_and_the_bin_that_moved_is_named(tmp_path):
    frame = load_wine(as_frame=True).frame.drop(columns="target")
    reference = pd.concat([frame] * 3, ignore_index=True)  # 534 rows: the profile's deciles
    recent = frame.sample(1000, replace=True, random_state=3).copy()
    recent["alcohol"] = recent["alcohol"] + 1.5 * frame["alcohol"].std()
    drifts = drift_of(tmp_path, reference, recent, named=False)  # a positional model: lists in the lake

    assert drifts["alcohol"].verdict == "major drift"
    assert "+inf" in drifts["alcohol"].moved  # the top bin filled up
    assert drifts["magnesium"].verdict == "no drift"


def test_categories_and_missing_values_have_bins_of_their_own(tmp_path):
    # GIVEN a shop's orders with text categories and missing values
    reference = shop_frame(rows=4000, seed=0).drop(columns=["spend", "big"])
    recent = shop_frame(rows=2000, seed=1).drop(columns=["spend", "big"])
    recent.loc[:999, "channel"] = "kiosk"  # a channel training never saw
    recent.loc[:1499, "basket"] = np.nan  # the basket size stopped arriving
    drifts = drift_of(tmp_path, reference, recent)

    assert drifts["channel"].verdict == "major drift" and drifts["channel"].moved.startswith(OTHER)
    assert drifts["basket"].verdict == "major drift" and drifts["basket"].moved.startswith(MISSING)
    assert drifts["member"].verdict == "no drift"
    assert library_verdict(reference["channel"], recent["channel"])  # the library agrees


def test_no_recent_readings_is_said_not_scored_as_drift(tmp_path):
    reference = cancer().drop(columns="target")
    athena = lake_of(tmp_path, "other-model", reference.head(5))
    drifts = measure(athena, "m", profile(reference, features_of(reference)), list(reference), True, 24)

    assert {(d.readings, d.verdict, d.psi) for d in drifts} == {(0, "no readings", 0.0)}


def test_nrt_drift_prints_each_feature_of_a_trained_model_worst_first(tmp_path, capsys):
    from nrt.cli import main
    from training.examples import cancer_csv
    from training.train import Recipe, train

    # GIVEN a model trained by nrt train (which saves its profile) and readings of one diagnosis
    state = tmp_path / "state"
    train(state / "models" / "tumours", Recipe(str(cancer_csv(tmp_path)), "diagnosis", None, "binary"))
    data = cancer()
    lake_of(state / "lake", "tumours", data[data.target == 0].drop(columns="target"))
    # WHEN the team asks for its drift
    assert main(["drift", "tumours", "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out.splitlines()
    # THEN every feature has a line, the most drifted first, and the count is said
    assert out[0].startswith("nrt drift tumours: 212 readings of the last 24 h against 455 training rows")
    psis = [float(line.split()[2]) for line in out[2:-1]]
    assert len(psis) == 30 and psis == sorted(psis, reverse=True) and psis[0] >= 0.25
    assert out[-1].endswith("of 30 features drift")


def test_nrt_drift_of_a_model_without_a_profile_says_how_to_get_one(tmp_path, capsys):
    from nrt.cli import main

    assert main(["drift", "nosuch", "--state-dir", str(tmp_path)]) == 2
    assert "no training profile" in capsys.readouterr().err
