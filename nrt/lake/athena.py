"""Local Athena: the athena/*.sql files, transpiled from Trino to DuckDB, over the local lake.

Each Glue table of the template is registered under its own name (`predictions`, `outcomes`)
as a view over the lake's Parquet objects with the dt/hour partitions read from the paths, so a filter on dt or hour
skips whole folders as partition projection does on AWS. Every `CREATE VIEW` file in
athena/ is created first, so queries can use the views the dashboards use.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from nrt.lake.parquet import TableSpec, parquet_files, table_spec, table_specs
from nrt.template import ROOT

ATHENA_DIR = ROOT / "athena"
FORMATS = ("table", "csv", "json")

_DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "boolean": "BOOLEAN"}
_VIEW = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?VIEW\s", re.IGNORECASE | re.MULTILINE)


class QueryError(Exception):
    """A query that cannot run locally, with the reason and where it came from."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def duckdb_type(glue_type: str) -> str:
    match = re.fullmatch(r"array<(.+)>", glue_type)
    if match:
        return f"{duckdb_type(match.group(1))}[]"
    match = re.fullmatch(r"map<(\w+),\s*(.+)>", glue_type)
    if match:
        return f"MAP({duckdb_type(match.group(1))}, {duckdb_type(match.group(2))})"
    if glue_type not in _DUCKDB_TYPES:
        raise QueryError(f"Glue type {glue_type!r} has no DuckDB mapping")
    return _DUCKDB_TYPES[glue_type]


def transpile(sql: str, source: str = "query") -> str:
    """Athena (Trino) SQL -> DuckDB SQL; anything sqlglot cannot carry over is refused by name."""
    try:
        statements = sqlglot.transpile(sql, read="athena", write="duckdb", unsupported_level=ErrorLevel.RAISE)
    except (UnsupportedError, ParseError) as error:
        raise QueryError(f"{source}: cannot be run locally: {error}") from error
    if len(statements) != 1:
        raise QueryError(f"{source}: expected one SQL statement, found {len(statements)}")
    return statements[0]


def is_view(sql: str) -> bool:
    return bool(_VIEW.search(sql))


def _explain(error: duckdb.Error, source: str) -> QueryError:
    text = str(error)
    missing = re.search(r"(Scalar|Aggregate|Table) Function with name (\w+) does not exist", text)
    if missing:
        return QueryError(f"{source}: DuckDB has no function {missing.group(2)!r}, so this query cannot run locally")
    return QueryError(f"{source}: {text.splitlines()[0]}")


class LocalAthena:
    """One DuckDB connection with the lake's tables and athena/'s views."""

    def __init__(self, lake: Path, spec: TableSpec | None = None, athena_dir: Path = ATHENA_DIR) -> None:
        self.lake = lake
        self.spec = spec or table_spec()  # the predictions table
        self.connection = duckdb.connect(":memory:")
        self.connection.execute("SET TimeZone = 'UTC'")  # Athena's session time zone
        others = [] if spec is not None else [t for t in table_specs() if t.name != self.spec.name]
        for table in [self.spec, *others]:
            self._register_table(table)
        for path in sorted(athena_dir.glob("*.sql")):
            sql = path.read_text()
            if is_view(sql):
                self.execute(sql, source=path.name)

    def _register_table(self, spec: TableSpec) -> None:
        partitions = ", ".join(f"CAST(NULL AS VARCHAR) AS {k}" for k in spec.partition_keys)
        if parquet_files(self.lake, spec):
            depth = "/".join(f"{k}=*" for k in spec.partition_keys)
            pattern = (self.lake / spec.prefix.split("/", 1)[0] / depth / "*.parquet").as_posix().replace("'", "''")
            types = ", ".join(f"'{k}': VARCHAR" for k in spec.partition_keys)
            source = f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, hive_types = {{{types}}})"
        else:
            # An empty lake is still a table with the Glue columns, so queries return no rows.
            columns = ", ".join(f"CAST(NULL AS {duckdb_type(t)}) AS {n}" for n, t in spec.columns)
            source = f"SELECT {columns}, {partitions} WHERE false"
        self.connection.execute(f"CREATE OR REPLACE VIEW {spec.name} AS {source}")

    def execute(self, sql: str, source: str = "query") -> Result:
        """Run one Athena statement; QueryError if it cannot run locally."""
        translated = transpile(sql, source)
        try:
            cursor = self.connection.execute(translated)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = cursor.fetchall() if cursor.description else []
        except duckdb.Error as error:
            raise _explain(error, source) from error
        return Result(columns, [tuple(r) for r in rows])

    def run_file(self, path: Path) -> Result:
        return self.execute(path.read_text(), source=path.name)


def query_files(athena_dir: Path = ATHENA_DIR) -> list[Path]:
    """The athena/*.sql files that are questions (views are set up, not asked)."""
    return [p for p in sorted(athena_dir.glob("*.sql")) if not is_view(p.read_text())]


def _plain(value: object) -> object:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


def render(result: Result, form: str) -> str:
    """The result as an aligned table, CSV or JSON."""
    if form not in _RENDERERS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return _RENDERERS[form](result.columns, [[_plain(v) for v in row] for row in result.rows])


def _json(columns: list[str], records: list[list[object]]) -> str:
    return json.dumps([dict(zip(columns, r, strict=True)) for r in records], indent=1)


def _csv(columns: list[str], records: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(records)
    return out.getvalue().rstrip("\n")


def _table(columns: list[str], records: list[list[object]]) -> str:
    cells = [columns] + [["" if v is None else str(v) for v in r] for r in records]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"({len(records)} row{'s' if len(records) != 1 else ''})")
    return "\n".join(lines)


_RENDERERS: dict[str, Callable[[list[str], list[list[object]]], str]] = {"table": _table, "csv": _csv, "json": _json}


def run_query(lake: Path, sql: str | None, files: Sequence[Path], form: str = "table") -> str:
    """`nrt query`: one SQL string or some files, rendered."""
    athena = LocalAthena(lake)
    if sql is not None:
        return render(athena.execute(sql), form)
    parts = []
    for path in files:
        rendered = render(athena.run_file(path), form)
        parts.append(rendered if len(files) == 1 or form != "table" else f"== {path.name}\n{rendered}")
    return "\n\n".join(parts)
