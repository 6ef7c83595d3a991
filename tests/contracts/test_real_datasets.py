"""Data contracts on real data: the published files in examples/ go through ODF's real definitions
for a month of days each, and every stored partition is compared with DuckDB reading the ORIGINAL
file on its own (its own CSV reader, null tokens and date parsing; nothing of ODF's).

Per day: row count, null count per column, every value (floats within 1e-9 relative), datetime
columns stored as UTC with the same instants, and every declared aggregate per group. The day of a
datetime row is its local day in the registry's `timezone` (UTC when none is declared).
"""

from __future__ import annotations

import gzip
import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from odf.definitions import build_definitions
from tests.support.pipeline import failure_messages, run_assets

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REGISTRY = EXAMPLES / "sources.yaml"
DATA = EXAMPLES / "data"
REL_TOL = 1e-9
DAY = "__day"

# The files exactly as published (examples/README.md says where each comes from).
PUBLISHED_SHA256 = {
    "CGM.csv": "7adf3b557411df4791e89eb9d36e9efcaf3d3d8dd1da40e0d42173ec134d052b",
    "brent_crude_oil.csv": "3dd7b8f6901a06564243cbb4ed2ab1def0e4cc965afb0e64538ae0bf79dd2964",
    "water-flow.csv": "6c84efeb8b148dd2ace656f11f5bd90de22dad014b094e3baafd8dbca69c83dc",
    "weather.csv": "5d1ea2548a3941eac0b4a9ca70805daa9fa49bbb711a0c7557b2bba0bd7c3f64",
    "seattle-temps.csv": "c220666521ff4bec4ffb6f0d9acfdc5c1056564b1aad6f78d3b06aa0a0c8b085",
    "sea_surface_temperature.csv.gz": "529155ac773634b0dca439781a839487640db92e2bdb597e372a2b0ba0ffbff0",
}


@dataclass(frozen=True)
class Case:
    source: str
    first: str
    last: str
    # DuckDB's reading of the original file: the registry's columns, typed, in the file's order.
    relation: str
    # The folder holding the original file ({data} in ``relation``).
    data: Path = DATA


CASES = [
    # `nil` nulls, CRLF endings (DuckDB's strict mode rejects the bare LF that ends the last line),
    # naive timestamps, read in the registry's `timezone` (none declared: UTC).
    Case(
        "glucose_cgm",
        "2010-08-15",
        "2010-09-14",
        """SELECT isig, timezone('{timezone}', "datetime") AS "datetime", glucose
           FROM read_csv('{data}/CGM.csv', header = true, delim = ',', quote = '"', nullstr = 'nil',
                         auto_detect = false, strict_mode = false,
                         columns = {{'isig': 'DOUBLE', 'datetime': 'TIMESTAMP', 'glucose': 'BIGINT'}})""",
    ),
    # MM/DD/YYYY dates; no rows on weekends and market holidays.
    Case(
        "brent_spot_price",
        "2008-09-01",
        "2008-09-30",
        """SELECT "day", DPB
           FROM read_csv('{data}/brent_crude_oil.csv', header = true, delim = ',', auto_detect = false,
                         dateformat = '%m/%d/%Y', columns = {{'day': 'DATE', 'DPB': 'DOUBLE'}})""",
    ),
    # +01:00 until daylight saving starts on 2022-03-27, +02:00 after; days in Europe/Rome.
    Case(
        "water_flow",
        "2022-03-20",
        "2022-04-19",
        """SELECT strptime("Time", '%Y-%m-%dT%H:%M:%S%z') AS "Time",
                  CAST("Water flow [l/s]" AS DOUBLE) AS "Water flow [l/s]"
           FROM read_csv('{data}/water-flow.csv', header = true, delim = ',', auto_detect = false,
                         columns = {{'Time': 'VARCHAR', 'Water flow [l/s]': 'VARCHAR'}})""",
    ),
    # R's `NA` nulls; ISO times with `Z`; days in America/New_York, which starts daylight saving on 2013-03-10.
    Case(
        "nyc_weather",
        "2013-02-24",
        "2013-03-25",
        """SELECT * REPLACE (timezone('UTC', strptime(time_hour, '%Y-%m-%dT%H:%M:%SZ')) AS time_hour)
           FROM read_csv('{data}/weather.csv', header = true, delim = ',', nullstr = 'NA', auto_detect = false,
                         columns = {{'origin': 'VARCHAR', 'year': 'BIGINT', 'month': 'BIGINT', 'day': 'BIGINT',
                                    'hour': 'BIGINT', 'temp': 'DOUBLE', 'dewp': 'DOUBLE', 'humid': 'DOUBLE',
                                    'wind_dir': 'BIGINT', 'wind_speed': 'DOUBLE', 'wind_gust': 'DOUBLE',
                                    'precip': 'DOUBLE', 'pressure': 'DOUBLE', 'visib': 'DOUBLE',
                                    'time_hour': 'VARCHAR'}})""",
    ),
    # gzip; ISO times with a literal `Z`; days in America/New_York across the 2016-03-13 change (a 23-hour day).
    Case(
        "sea_surface_temperature",
        "2016-03-08",
        "2016-03-18",
        """SELECT timezone('UTC', strptime("time (UTC)", '%Y-%m-%dT%H:%M:%SZ')) AS observed_at,
                  CAST("temperature (celsius)" AS DOUBLE) AS temperature
           FROM read_csv('{data}/sea_surface_temperature.csv.gz', header = true, delim = ',', auto_detect = false,
                         compression = 'gzip',
                         columns = {{'time (UTC)': 'VARCHAR', 'temperature (celsius)': 'VARCHAR'}})""",
    ),
]

DUCKDB_METRICS = {
    "count": "count({})",
    "count_non_null": "count({})",
    "sum": "sum({})",
    "mean": "avg({})",
    "min": "min({})",
    "max": "max({})",
    "distinct_count": "count(DISTINCT {})",
}


def declarations() -> dict[str, dict]:
    return {source["name"]: source for source in yaml.safe_load(REGISTRY.read_text())["sources"]}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def days(case: Case) -> list[date]:
    first, last = date.fromisoformat(case.first), date.fromisoformat(case.last)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def close(actual, expected) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(actual, float) or isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=REL_TOL) or (math.isnan(actual) and math.isnan(expected))
    return actual == expected


def sort_key(row: tuple) -> tuple:
    return tuple((value is None, value if value is not None else 0) for value in row)


def rows_close(actual: list[tuple], expected: list[tuple]) -> bool:
    return len(actual) == len(expected) and all(
        all(close(a, e) for a, e in zip(left, right, strict=True)) for left, right in zip(actual, expected, strict=True)
    )


class DuckSide:
    """The original file in DuckDB, with each row's partition day (a datetime's local day in `timezone`)."""

    def __init__(self, case: Case, spec: dict):
        self.spec, self.schema = spec, spec["schema"]
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        date_column = quote(spec["date_column"])
        zone = spec.get("timezone") or "UTC"
        day = (
            date_column
            if self.schema[spec["date_column"]] == "date"
            else f"CAST(timezone('{zone}', {date_column}) AS DATE)"
        )
        relation = case.relation.format(data=case.data.as_posix(), timezone=zone)
        self.con.execute(f"CREATE TABLE source AS SELECT *, {day} AS {DAY} FROM ({relation})")
        self.con.execute(
            "CREATE TABLE in_range AS SELECT * FROM source "
            f"WHERE {DAY} BETWEEN DATE '{case.first}' AND DATE '{case.last}'"
        )
        assert self.columns() == list(self.schema), "the DuckDB relation must give the registry's columns in order"

    def columns(self) -> list[str]:
        return [row[0] for row in self.con.execute("DESCRIBE source").fetchall() if row[0] != DAY]

    def value(self, column: str) -> str:
        """Datetimes as epoch microseconds, the unit ODF stores."""
        return f"epoch_us({quote(column)})" if self.schema[column] == "datetime" else quote(column)

    def per_day(self) -> dict[date, dict]:
        nulls = ", ".join(f"count(*) - count({quote(c)})" for c in self.schema)
        counted = self.con.execute(f"SELECT {DAY}, count(*), {nulls} FROM in_range GROUP BY {DAY}").fetchall()
        return {row[0]: {"rows": row[1], "nulls": dict(zip(self.schema, row[2:], strict=True))} for row in counted}

    def rows(self, day: date) -> list[tuple]:
        selected = ", ".join(self.value(c) for c in self.schema)
        return sorted(
            self.con.execute(f"SELECT {selected} FROM in_range WHERE {DAY} = ?", [day]).fetchall(), key=sort_key
        )

    def aggregate(self, aggregate: dict, every_day: list[date]) -> dict[tuple, tuple]:
        group_by = [quote(c) for c in aggregate.get("group_by") or []]
        metrics = [
            DUCKDB_METRICS[m["agg"]].format(quote(m["column"]) if m.get("column") else "*")
            for m in aggregate["metrics"]
        ]
        if not group_by:
            # SQL's ungrouped aggregate: one row per day, an empty day included (count 0, NULL sums).
            query = f"SELECT {', '.join(metrics)} FROM in_range WHERE {DAY} = ?"
            return {(day,): tuple(self.con.execute(query, [day]).fetchone()) for day in every_day}
        keys = [DAY, *group_by]
        result = self.con.execute(
            f"SELECT {', '.join(keys + metrics)} FROM in_range GROUP BY {', '.join(keys)}"
        ).fetchall()
        return {tuple(row[: len(keys)]): tuple(row[len(keys) :]) for row in result}


def odf_rows(frame: pl.DataFrame, schema: dict[str, str]) -> list[tuple]:
    values = [pl.col(c).dt.epoch("us") if kind == "datetime" else pl.col(c) for c, kind in schema.items()]
    return sorted(frame.select(values).rows(), key=sort_key)


def stored(storage: Path, asset: str, day: date) -> pl.DataFrame | None:
    path = storage / asset / f"date={day.isoformat()}" / "data.parquet"
    return pl.read_parquet(path) if path.exists() else None


def differences_from_duckdb(case: Case, spec: dict, storage: Path) -> list[str]:
    """Every difference between ODF's stored partitions (and aggregates) and DuckDB's reading of
    the original file, per day of the case."""
    schema = spec["schema"]
    aggregates = spec.get("aggregates") or []
    duck = DuckSide(case, spec)
    expected = duck.per_day()
    assert expected, f"{case.source}: DuckDB found no rows in {case.first}..{case.last}"
    problems: list[str] = []

    for day in days(case):
        raw = stored(storage, f"raw/{case.source}", day)
        if day not in expected:
            if raw is not None and raw.height:
                problems.append(f"{day}: DuckDB has no rows, ODF stored {raw.height}")
            continue
        if raw is None:
            problems.append(f"{day}: no raw partition stored (DuckDB: {expected[day]['rows']} rows)")
            continue
        if raw.columns != [*schema, "date"]:
            problems.append(f"{day}: raw columns {raw.columns}, expected {[*schema, 'date']}")
            continue
        if raw.height != expected[day]["rows"]:
            problems.append(f"{day}: {raw.height} rows, DuckDB {expected[day]['rows']}")
        if raw["date"].unique().to_list() != [day]:
            problems.append(f"{day}: the partition's date column holds {raw['date'].unique().to_list()}")
        nulls = {c: raw[c].null_count() for c in schema}
        for column, count in nulls.items():
            if count != expected[day]["nulls"][column]:
                problems.append(f"{day}: column {column!r} has {count} nulls, DuckDB {expected[day]['nulls'][column]}")
        for column in (c for c, kind in schema.items() if kind == "datetime"):
            if raw.schema[column] != pl.Datetime("us", "UTC"):
                problems.append(f"{day}: column {column!r} stored as {raw.schema[column]}, expected Datetime(us, UTC)")
        mine, theirs = odf_rows(raw, schema), duck.rows(day)
        if not rows_close(mine, theirs):
            diff = next(((m, t) for m, t in zip(mine, theirs, strict=False) if not rows_close([m], [t])), None)
            problems.append(f"{day}: values differ from DuckDB's, first difference (ODF, DuckDB): {diff}")

    for aggregate in aggregates:
        asset = f"aggregates/{case.source}/{aggregate['name']}"
        group_by = list(aggregate.get("group_by") or [])
        names = [m.get("name") for m in aggregate["metrics"]]
        want = duck.aggregate(aggregate, days(case))
        got: dict[tuple, tuple] = {}
        for day in days(case):
            frame = stored(storage, asset, day)
            if frame is None:
                if day in expected:
                    problems.append(f"{asset} {day}: no partition stored")
                continue
            if frame.columns != ["date", *group_by, *names]:
                problems.append(f"{asset} {day}: columns {frame.columns}, expected {['date', *group_by, *names]}")
                continue
            for row in frame.rows():
                group = tuple(row[: 1 + len(group_by)])
                if group in got:
                    problems.append(f"{asset} group {group}: more than one row")
                got[group] = tuple(row[1 + len(group_by) :])
        for group in sorted(set(got) | set(want), key=sort_key):
            if group not in want or group not in got:
                problems.append(f"{asset} group {group}: ODF {got.get(group)}, DuckDB {want.get(group)}")
                continue
            for name, mine, theirs in zip(names, got[group], want[group], strict=True):
                if not close(mine, theirs):
                    problems.append(f"{asset} group {group} metric {name!r}: ODF {mine!r}, DuckDB {theirs!r}")

    return problems


@pytest.mark.parametrize("name", sorted(PUBLISHED_SHA256))
def test_example_files_are_the_published_bytes(name):
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == PUBLISHED_SHA256[name]


def test_example_files_have_the_traits_they_stand_for():
    cgm = (DATA / "CGM.csv").read_bytes()
    assert cgm.startswith(b"isig,datetime,glucose\r\n") and cgm.count(b"\r\n") == 52281 and b"\r\nnil," in cgm
    assert b"\n05/20/1987,18.63\n" in (DATA / "brent_crude_oil.csv").read_bytes()
    water = (DATA / "water-flow.csv").read_bytes()
    assert b"2022-03-27T01:00:00+01:00" in water and b"2022-03-27T03:00:00+02:00" in water
    weather = (DATA / "weather.csv").read_bytes()
    assert b",NA," in weather and b",2013-01-01T06:00:00Z\n" in weather and b"\r" not in weather
    sea = gzip.decompress((DATA / "sea_surface_temperature.csv.gz").read_bytes())
    assert sea.startswith(b"time (UTC),temperature (celsius)\n2016-02-15T00:00:00Z,4.929\n")
    # The registry's America/New_York is the file's own: year..hour are time_hour's New York time.
    mismatched = (
        duckdb.connect()
        .execute(
            f"""SELECT count(*) FROM read_csv('{DATA.as_posix()}/weather.csv', header = true, nullstr = 'NA')
            WHERE strftime(timezone('America/New_York', time_hour), '%Y-%m-%d %H')
                  <> printf('%04d-%02d-%02d %02d', "year", "month", "day", "hour")"""
        )
        .fetchone()[0]
    )
    assert mismatched == 0


@pytest.mark.parametrize("case", CASES, ids=[case.source for case in CASES])
def test_partitions_and_aggregates_equal_duckdb_on_the_original_file(case, tmp_path, monkeypatch):
    spec = declarations()[case.source]
    storage = tmp_path / "storage"
    monkeypatch.setenv("ODF_SOURCES", str(REGISTRY))
    monkeypatch.setenv("ODF_STORAGE", str(storage))
    aggregates = spec.get("aggregates") or []
    assets = [f"raw/{case.source}", *[f"aggregates/{case.source}/{a['name']}" for a in aggregates]]
    result = run_assets(build_definitions(), assets, partition_range=(case.first, case.last))

    # Each declaration fits its file (days without rows are declared with allow_empty_days).
    assert result.success, f"{case.source}: the range run failed:\n{failure_messages(result)}"
    problems = differences_from_duckdb(case, spec, storage)
    assert not problems, f"{case.source}: {len(problems)} difference(s) from DuckDB:\n" + "\n".join(problems[:40])
