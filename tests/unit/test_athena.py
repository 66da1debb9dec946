"""athena/*.sql: deployed as named queries, and run locally (sqlglot -> DuckDB) with checked results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nrt.lake.athena import (
    ATHENA_DIR,
    LocalAthena,
    QueryError,
    Result,
    is_view,
    query_files,
    render,
    run_query,
    transpile,
)
from nrt.lake.parquet import table_spec, write_rows
from nrt.template import load_template, resources
from tests.helpers.lakes import MINUTE, MS, NOW, lake_row


def run(lake: Path, name: str) -> list[dict[str, Any]]:
    return LocalAthena(lake).run_file(ATHENA_DIR / name).records()


def test_every_sql_file_transpiles_to_duckdb():
    for path in sorted(ATHENA_DIR.glob("*.sql")):
        assert transpile(path.read_text(), path.name)


def test_every_sql_file_is_deployed_as_a_named_query_with_the_same_text():
    named = {
        r["Properties"]["Name"]: r["Properties"]
        for r in resources(load_template()).values()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }

    assert sorted(named) == sorted(p.stem for p in ATHENA_DIR.glob("*.sql"))
    for path in ATHENA_DIR.glob("*.sql"):
        assert named[path.stem]["QueryString"].strip() == path.read_text().strip(), path.name


def test_the_view_holds_every_kind_typed_and_reads_rows_written_before_labels_as_binary(lake):
    got = (
        LocalAthena(lake)
        .execute(
            "SELECT sensor, model, kind, label, value, probability FROM prediction_events "
            "ORDER BY sensor, model, timestamp"
        )
        .records()
    )

    assert [(r["sensor"], r["model"], r["kind"], r["label"], r["value"], r["probability"]) for r in got] == [
        ("pump-1", "candidate", "binary", "1", None, 0.91),
        ("pump-1", "failure", "binary", "1", None, 0.97),
        ("pump-1", "penguins", "multiclass", "Adelie", None, 0.8),
        ("pump-2", "failure", "binary", "0", None, 0.12),
        ("pump-2", "failure", "binary", "0", None, 0.45),
        ("pump-2", "price", "regression", None, 512.5, None),
        ("pump-2", "price", "regression", None, 700.0, None),
        ("pump-3", "failure", "binary", "1", None, 0.66),
    ]


def test_a_class_probability_is_queryable_by_label(lake):
    got = (
        LocalAthena(lake)
        .execute("SELECT element_at(probabilities, 'Gentoo') AS gentoo FROM prediction_events WHERE model = 'penguins'")
        .records()
    )

    assert got == [{"gentoo": 0.2}]


def test_a_regression_value_is_a_double_to_average(lake):
    got = LocalAthena(lake).execute("SELECT avg(value) AS mean FROM prediction_events WHERE kind = 'regression'")

    assert got.rows == [(606.25,)]


def test_label_rate_per_model_per_minute(lake):
    got = run(lake, "label_rate_per_minute.sql")

    assert [(r["model"], r["kind"], r["minute"].isoformat(), r["label"], r["readings"], r["share"]) for r in got] == [
        ("candidate", "binary", MINUTE, "1", 1, 1.0),
        ("failure", "binary", MINUTE, "0", 2, 0.5),
        ("failure", "binary", MINUTE, "1", 2, 0.5),
        ("penguins", "multiclass", MINUTE, "Adelie", 1, 1.0),
    ]


def test_value_per_minute_and_its_distribution_for_regressors(lake):
    [minute] = run(lake, "value_per_minute.sql")
    buckets = run(lake, "value_distribution.sql")

    assert (minute["model"], minute["readings"], minute["mean_value"], minute["min_value"], minute["max_value"]) == (
        "price",
        2,
        606.25,
        512.5,
        700.0,
    )
    assert [(r["model"], r["bucket"], r["predictions"], r["value_from"], r["value_to"]) for r in buckets] == [
        ("price", 0, 1, 512.5, 521.875),
        ("price", 19, 1, 690.625, 700.0),
    ]


def test_latest_prediction_per_sensor_and_model(lake):
    got = run(lake, "latest_prediction_per_sensor.sql")

    assert [(r["sensor"], r["model"], r["last_reading_ms"], r["label"], r["value"]) for r in got] == [
        ("pump-1", "candidate", MS, "1", None),
        ("pump-1", "failure", MS, "1", None),
        ("pump-1", "penguins", MS + 5000, "Adelie", None),
        ("pump-2", "failure", MS + 4000, "0", None),
        ("pump-2", "price", MS + 4000, None, 700.0),
        ("pump-3", "failure", MS + 6000, "1", None),
    ]


def test_probability_distribution_per_classifier(lake):
    got = run(lake, "probability_distribution.sql")

    assert [(r["model"], r["kind"], float(r["bucket_from"]), r["predictions"]) for r in got] == [
        ("candidate", "binary", 0.9, 1),
        ("failure", "binary", 0.1, 1),
        ("failure", "binary", 0.45, 1),
        ("failure", "binary", 0.65, 1),
        ("failure", "binary", 0.95, 1),
        ("penguins", "multiclass", 0.8, 1),
    ]


def test_model_comparison_pairs_models_on_the_same_readings(lake):
    got = run(lake, "model_comparison.sql")

    assert [(r["model_a"], r["model_b"], r["shared_readings"], r["label_agreement"]) for r in got] == [
        ("candidate", "failure", 1, 1.0),
        ("failure", "price", 2, None),
    ]


def test_lake_lag_from_reading_to_arrival(lake):
    got = run(lake, "lake_lag.sql")

    assert len(got) == 1
    assert (got[0]["rows"], got[0]["max_lag_ms"]) == (9, 1000)
    assert 400 <= got[0]["p50_lag_ms"] <= got[0]["p99_lag_ms"] <= 1000


def test_duplicate_check_finds_a_redelivered_change(lake):
    assert [r["extra_rows"] for r in run(lake, "duplicate_check.sql")] == [0, 0]
    write_rows(lake, table_spec(), [lake_row("pump-1", 0, "failure", "1", 0.97)], NOW, "again.parquet")

    assert [r["extra_rows"] for r in run(lake, "duplicate_check.sql")] == [1, 1]


def test_an_empty_lake_answers_every_query_with_no_rows_but_the_right_columns(tmp_path):
    athena = LocalAthena(tmp_path)

    for path in query_files():
        result = athena.run_file(path)
        assert result.columns and (result.rows == [] or path.name == "duplicate_check.sql"), path.name


def test_a_filter_on_the_partition_skips_other_partitions(lake):
    broken = lake / "predictions/dt=2099-12-31/hour=23"
    broken.mkdir(parents=True)
    (broken / "corrupt.parquet").write_bytes(b"not parquet")
    athena = LocalAthena(lake)
    today = NOW.strftime("%Y-%m-%d")

    pruned = athena.execute(f"SELECT count(*) AS n FROM predictions WHERE dt = '{today}'")

    assert pruned.rows == [(11,)]
    with pytest.raises(QueryError):
        athena.execute("SELECT count(*) FROM predictions")


def test_a_function_duckdb_lacks_is_named_in_the_error(lake):
    with pytest.raises(QueryError, match="no function 'no_such_fn'"):
        LocalAthena(lake).execute("SELECT no_such_fn(sensor) FROM predictions")


def test_sql_that_does_not_parse_is_refused_with_its_source():
    with pytest.raises(QueryError, match=r"mine\.sql: cannot be run locally"):
        transpile("SELECT FROM WHERE (", "mine.sql")


def test_views_are_set_up_and_questions_are_asked():
    assert [p.name for p in ATHENA_DIR.glob("*.sql") if is_view(p.read_text())] == ["prediction_events.sql"]
    assert "prediction_events.sql" not in [p.name for p in query_files()]


@pytest.mark.parametrize("form", ["table", "csv", "json"])
def test_results_render_in_each_format(lake, form):
    out = run_query(lake, "SELECT sensor, count(*) AS n FROM prediction_events GROUP BY 1 ORDER BY 1", [], form)

    expected = {
        "table": "sensor  n\n------  -\npump-1  3\npump-2  4\npump-3  1\n(3 rows)",
        "csv": "sensor,n\npump-1,3\npump-2,4\npump-3,1",
        "json": json.dumps(
            [{"sensor": "pump-1", "n": 3}, {"sensor": "pump-2", "n": 4}, {"sensor": "pump-3", "n": 1}], indent=1
        ),
    }
    assert out == expected[form]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="table, csv, json"):
        render(Result(["a"], []), "xml")


def test_every_glue_table_of_the_template_is_a_table_of_the_local_lake_with_its_columns_and_partitions(tmp_path):
    glue = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in resources(load_template()).values()
        if r["Type"] == "AWS::Glue::Table"
    }
    outcomes = table_spec(glue_table="OutcomesGlueTable")
    write_rows(tmp_path, outcomes, [{"event_id": "pump-1:0", "model": "failure", "label": "1"}], NOW, "o.parquet")
    athena = LocalAthena(tmp_path)

    assert {"predictions", "outcomes"} <= set(glue)
    for name, table in glue.items():
        columns = athena.execute(f"SELECT * FROM {name} LIMIT 0").columns
        expected = [c["Name"] for c in table["StorageDescriptor"]["Columns"]] + [
            k["Name"] for k in table["PartitionKeys"]
        ]
        assert columns == expected, name
    got = athena.execute(f"SELECT event_id, label, dt FROM outcomes WHERE dt = '{NOW:%Y-%m-%d}'").rows
    assert got == [("pump-1:0", "1", f"{NOW:%Y-%m-%d}")]
