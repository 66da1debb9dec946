"""athena/*.sql: deployed as named queries, and run locally (sqlglot -> DuckDB) with checked results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nrt.athena import (
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
from nrt.lake import table_spec, write_rows
from nrt.template import load_template, resources
from tests.conftest import MINUTE, MS, NOW, lake_row


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


def test_failure_rate_per_sensor_per_minute(lake):
    got = run(lake, "failure_rate_per_sensor.sql")

    assert [(r["sensor"], r["minute"].isoformat(), r["readings"], r["failure_rate"]) for r in got] == [
        ("pump-1", MINUTE, 2, 1.0),
        ("pump-2", MINUTE, 2, 0.0),
    ]


def test_latest_prediction_per_sensor(lake):
    got = run(lake, "latest_prediction_per_sensor.sql")

    assert got == [
        {"sensor": "pump-1", "last_reading_ms": MS + 2000, "model": "candidate", "prediction": 1, "probability": 0.91},
        {"sensor": "pump-2", "last_reading_ms": MS + 4000, "model": "failure", "prediction": 0, "probability": 0.45},
    ]


def test_probability_distribution_per_model(lake):
    got = run(lake, "probability_distribution.sql")

    assert [(r["model"], float(r["bucket_from"]), r["predictions"]) for r in got] == [
        ("candidate", 0.9, 1),
        ("failure", 0.1, 1),
        ("failure", 0.4, 1),
        ("failure", 0.9, 1),
    ]


def test_model_comparison_on_shared_sensors_only(lake):
    got = run(lake, "model_comparison.sql")

    assert [(r["model"], r["sensors"], r["predictions"], r["failure_rate"]) for r in got] == [
        ("candidate", 1, 1, 1.0),
        ("failure", 1, 1, 1.0),
    ]


def test_lake_lag_from_reading_to_arrival(lake):
    got = run(lake, "lake_lag.sql")

    assert len(got) == 1
    assert (got[0]["rows"], got[0]["max_lag_ms"]) == (5, 800)
    assert 400 <= got[0]["p50_lag_ms"] <= got[0]["p99_lag_ms"] <= 800


def test_duplicate_check_finds_a_redelivered_change(lake):
    assert [r["extra_rows"] for r in run(lake, "duplicate_check.sql")] == [0, 0]
    write_rows(lake, table_spec(), [lake_row("pump-1", 0, "failure", 1, 0.97)], NOW, "again.parquet")

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

    assert pruned.rows == [(7,)]
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
        "table": "sensor  n\n------  -\npump-1  2\npump-2  2\n(2 rows)",
        "csv": "sensor,n\npump-1,2\npump-2,2",
        "json": json.dumps([{"sensor": "pump-1", "n": 2}, {"sensor": "pump-2", "n": 2}], indent=1),
    }
    assert out == expected[form]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="table, csv, json"):
        render(Result(["a"], []), "xml")
