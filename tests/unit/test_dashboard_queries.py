"""The dashboard's athena/*.sql per kind of model, on a lake of real predictions: a binary model
(breast cancer), a 10-label one (digits 0..9) and a regressor (diabetes), scored by the serving
code and written through the real Firehose transform (tests/helpers/kind_lakes.py)."""

from __future__ import annotations

import collections
import datetime
import statistics
from pathlib import Path
from typing import Any

import pytest

from nrt.lake.athena import ATHENA_DIR, LocalAthena
from tests.helpers.kind_lakes import (
    DIGITS,
    SPAN_MINUTES,
    START_MS,
    Scored,
    no_probabilities,
    score_three_models,
    write_three_kinds_lake,
)


@pytest.fixture(scope="module")
def scored() -> list[Scored]:
    return score_three_models()


@pytest.fixture(scope="module")
def athena(scored: list[Scored], tmp_path_factory: pytest.TempPathFactory) -> LocalAthena:
    return LocalAthena(write_three_kinds_lake(tmp_path_factory.mktemp("kinds") / "lake", scored))


def run(athena: LocalAthena, name: str) -> list[dict[str, Any]]:
    return athena.run_file(ATHENA_DIR / name).records()


def answers(scored: list[Scored], model: str) -> list[dict[str, Any]]:
    return next(s.answers for s in scored if s.model == model)


def test_given_three_kinds_then_the_view_knows_each_models_kind_from_the_lake(athena):
    got = athena.execute("SELECT model, kind, count(*) AS n FROM prediction_events GROUP BY 1, 2 ORDER BY 1").rows

    assert got == [("cancer", "binary", 171), ("digits", "multiclass", 540), ("progression", "regression", 133)]


def test_a_binary_models_positive_label_is_read_from_its_probabilities_whatever_was_predicted(athena, scored):
    got = athena.execute(
        "SELECT label, positive_label, count(*) AS n FROM prediction_events WHERE model = 'cancer' GROUP BY 1, 2"
    ).rows
    predicted = collections.Counter(a["prediction"] for a in answers(scored, "cancer"))

    assert sorted(got) == [
        ("benign", "malignant", predicted["benign"]),
        ("malignant", "malignant", predicted["malignant"]),
    ]
    assert athena.execute(
        "SELECT count(*) FROM prediction_events WHERE kind <> 'binary' AND positive_label IS NOT NULL"
    ).rows == [(0,)]


def test_positive_share_per_minute_is_the_binary_models_share_of_its_positive_label(athena, scored):
    got = run(athena, "positive_share_per_minute.sql")
    predicted = [a["prediction"] for a in answers(scored, "cancer")]

    assert {r["model"] for r in got} == {"cancer"} and {r["positive_label"] for r in got} == {"malignant"}
    assert sum(r["readings"] for r in got) == len(predicted)
    assert sum(r["positives"] for r in got) == predicted.count("malignant") > 0
    assert all(r["share"] == round(r["positives"] / r["readings"], 4) for r in got)
    step = SPAN_MINUTES * 60_000 // len(predicted)
    minutes = [int(r["minute"].replace(tzinfo=datetime.UTC).timestamp()) // 60 for r in got]
    assert minutes == sorted({(START_MS + i * step) // 60_000 for i in range(len(predicted))})


def test_label_rate_per_minute_holds_every_label_of_the_ten_label_model_and_no_other_models_labels(athena, scored):
    got = [r for r in run(athena, "label_rate_per_minute.sql") if r["kind"] == "multiclass"]
    predicted = collections.Counter(str(a["prediction"]) for a in answers(scored, "digits"))

    assert {r["model"] for r in got} == {"digits"}
    assert sorted({r["label"] for r in got}) == DIGITS
    totals: collections.Counter[str] = collections.Counter()
    for r in got:
        totals[r["label"]] += r["readings"]
    assert totals == predicted
    per_minute: dict[datetime.datetime, float] = collections.defaultdict(float)
    for r in got:
        per_minute[r["minute"]] += r["share"]
    assert all(abs(total - 1) < 1e-3 for total in per_minute.values())


def test_probability_distribution_is_per_classifier_in_twentieths_with_every_prediction_counted(athena, scored):
    got = run(athena, "probability_distribution.sql")

    assert {(r["model"], r["kind"]) for r in got} == {("cancer", "binary"), ("digits", "multiclass")}
    for model in ("cancer", "digits"):
        rows = [r for r in got if r["model"] == model]
        assert sum(r["predictions"] for r in rows) == len(answers(scored, model))
        assert all(round(float(r["bucket_from"]) * 20, 6).is_integer() for r in rows)
        expected = collections.Counter(min(int(a["probability"] * 20), 19) / 20 for a in answers(scored, model))
        assert {float(r["bucket_from"]): r["predictions"] for r in rows} == pytest.approx(expected)


def test_value_distribution_splits_the_regressors_range_in_twenty_equal_buckets(athena, scored):
    got = run(athena, "value_distribution.sql")
    values = [a["prediction"] for a in answers(scored, "progression")]

    assert {r["model"] for r in got} == {"progression"}
    assert sum(r["predictions"] for r in got) == len(values)
    assert got[0]["value_from"] == round(min(values), 4) and got[-1]["value_to"] == pytest.approx(max(values), abs=1e-3)
    widths = {round(r["value_to"] - r["value_from"], 2) for r in got}
    assert len(widths) == 1 and widths.pop() == pytest.approx((max(values) - min(values)) / 20, abs=0.01)


def test_value_per_minute_is_the_regressors_mean_per_minute_of_reading_time(athena, scored):
    got = run(athena, "value_per_minute.sql")
    values = answers(scored, "progression")
    step = SPAN_MINUTES * 60_000 // len(values)
    by_minute: dict[int, list[float]] = collections.defaultdict(list)
    for i, a in enumerate(values):
        by_minute[(START_MS + i * step) // 60_000] += [a["prediction"]]

    assert [int(r["minute"].timestamp()) // 60 for r in got] == sorted(by_minute)
    assert [r["mean_value"] for r in got] == [
        pytest.approx(statistics.mean(v), abs=1e-3) for _, v in sorted(by_minute.items())
    ]


def test_a_regressor_with_one_value_has_one_bucket(tmp_path: Path):
    one = Scored(
        "flat", [[1.0]] * 3, [{"kind": "regression", "prediction": 5.0, "probability": None, "probabilities": None}] * 3
    )

    got = run(LocalAthena(write_three_kinds_lake(tmp_path / "lake", [one])), "value_distribution.sql")

    assert [(r["bucket"], r["predictions"], r["value_from"], r["value_to"]) for r in got] == [(0, 3, 5.0, 5.0)]


def test_a_binary_model_without_probabilities_has_no_positive_label_and_keeps_its_label_shares(tmp_path: Path):
    athena = LocalAthena(write_three_kinds_lake(tmp_path / "lake", [no_probabilities()]))

    assert athena.execute("SELECT DISTINCT positive_label FROM prediction_events").rows == [(None,)]
    assert run(athena, "positive_share_per_minute.sql") == []
    rates = run(athena, "label_rate_per_minute.sql")
    assert {(r["kind"], r["label"]) for r in rates} == {("binary", "yes"), ("binary", "no")}
    assert sum(r["readings"] for r in rates if r["label"] == "yes") == 2
