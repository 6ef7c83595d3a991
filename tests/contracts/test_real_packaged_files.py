"""Real public files shipped in PyPI packages (not the four in examples/), declared with the keys
they need and compared with DuckDB reading the original file on its own, as test_real_datasets does:

* vega-datasets' seattle-temps.csv: hourly timestamps in a column named ``date`` (``rename``);
* vega-datasets' la-riots.csv: deaths on a few days of a month (``allow_empty_days``, SQL's
  zero-count row per empty day for ``group_by: []``);
* scikit-learn's diabetes_data_raw.csv.gz: gzip, no header, space-separated (``csv.header: false``);
* examples' weather.csv read with ``formats`` holding a literal ``Z`` across New York's DST change;
* bokeh-sampledata's sea_surface_temperature.csv.gz (copied to examples/, byte for byte): gzip, a
  literal ``Z`` in ``formats`` and ``timezone: America/New_York`` across both DST changes.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import polars as pl
import sklearn
import vega_datasets

from odf.definitions import build_definitions
from tests.contracts.test_real_datasets import DATA, Case, declarations, differences_from_duckdb, odf_rows
from tests.support.pipeline import failure_messages, read_partition, run_assets, write_registry

VEGA = Path(vega_datasets.__file__).parent / "_data"
SKLEARN = Path(sklearn.__file__).parent / "datasets" / "data"


def source(name: str, **fields) -> dict:
    return {
        "name": name,
        "description": f"{name} (packaged real file)",
        "license": "see the package",
        "owner": "ODF tests",
        **fields,
    }


def check(case: Case, spec: dict, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [spec])))
    aggregates = [f"aggregates/{spec['name']}/{a['name']}" for a in spec.get("aggregates", [])]
    result = run_assets(
        build_definitions(), [f"raw/{spec['name']}", *aggregates], partition_range=(case.first, case.last)
    )
    assert result.success, failure_messages(result)
    problems = differences_from_duckdb(case, spec, tmp_path / "storage")
    assert not problems, f"{case.source}: {len(problems)} difference(s) from DuckDB:\n" + "\n".join(problems[:40])


def test_hourly_timestamps_in_a_column_named_date_are_renamed(tmp_path, monkeypatch):
    shutil.copy(VEGA / "seattle-temps.csv", tmp_path)
    assert (VEGA / "seattle-temps.csv").read_text().startswith("date,temp\n2010/01/01 00:00,39.4\n")
    # The declaration users get in examples/sources.yaml, reading the package's own file.
    spec = dict(declarations()["seattle_temps"], url="seattle-temps.csv")
    case = Case(
        "seattle_temps",
        "2010-03-10",
        "2010-03-16",
        """SELECT timezone('UTC', strptime("date", '%Y/%m/%d %H:%M')) AS recorded_at, CAST(temp AS DOUBLE) AS temp
           FROM read_csv('{data}/seattle-temps.csv', header = true, auto_detect = false,
                         columns = {{'date': 'VARCHAR', 'temp': 'VARCHAR'}})""",
        tmp_path,
    )
    check(case, spec, tmp_path, monkeypatch)


def test_sparse_days_with_allow_empty_days_and_zero_count_rows(tmp_path, monkeypatch):
    shutil.copy(VEGA / "la-riots.csv", tmp_path)
    columns = {
        "first_name": "string",
        "last_name": "string",
        "age": "int64",
        "gender": "string",
        "race": "string",
        "death_date": "date",
        "address": "string",
        "neighborhood": "string",
        "type": "string",
        "longitude": "float64",
        "latitude": "float64",
    }
    spec = source(
        "la_riots",
        url="la-riots.csv",
        format="csv",
        date_column="death_date",
        start_date="1992-04-01",
        schema=columns,
        checks={"allow_empty_days": True},
        aggregates=[
            {
                "name": "deaths",
                "group_by": [],
                "metrics": [{"agg": "count", "name": "deaths"}, {"agg": "mean", "column": "age", "name": "mean_age"}],
            }
        ],
    )
    duck_types = {"string": "VARCHAR", "int64": "BIGINT", "date": "DATE", "float64": "DOUBLE"}
    declared = ", ".join(f"'{name}': '{duck_types[kind]}'" for name, kind in columns.items())
    case = Case(
        "la_riots",
        "1992-04-28",
        "1992-05-06",
        "SELECT * FROM read_csv('{data}/la-riots.csv', header = true, auto_detect = false, "
        f"columns = {{{{{declared}}}}})",
        tmp_path,
    )
    check(case, spec, tmp_path, monkeypatch)
    # Days without deaths: one aggregate row with a count of 0 (int64), as SQL's COUNT(*) gives.
    empty = read_partition(tmp_path / "storage", "aggregates/la_riots/deaths", "1992-05-05")
    assert empty.select("deaths", "mean_age").rows() == [(0, None)] and empty.schema["deaths"] == pl.Int64


def test_a_headerless_gzip_file_is_read_in_schema_order(tmp_path, monkeypatch):
    original = SKLEARN / "diabetes_data_raw.csv.gz"
    assert gzip.decompress(original.read_bytes()).startswith(b"59 2 32.1 101.0 157 93.2 38.0 4.0 4.8598 87\n")
    # Named without .gz: ODF detects gzip by content.
    shutil.copy(original, tmp_path / "2024-01-01.data")
    schema = {
        name: ("int64" if name in ("age", "sex") else "float64")
        for name in ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    }
    spec = source(
        "diabetes",
        url_template="{date}.data",
        format="csv",
        csv={"header": False, "delimiter": " "},
        start_date="2024-01-01",
        schema=schema,
    )
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [spec])))
    result = run_assets(build_definitions(), ["raw/diabetes"], partition_key="2024-01-01")
    assert result.success, failure_messages(result)
    stored = read_partition(tmp_path / "storage", "raw/diabetes", "2024-01-01")
    duck_types = {"int64": "BIGINT", "float64": "DOUBLE"}
    declared = ", ".join(f"'{name}': '{duck_types[kind]}'" for name, kind in schema.items())
    expected = duckdb.sql(
        f"SELECT * FROM read_csv('{original.as_posix()}', header = false, delim = ' ', compression = 'gzip', "
        f"auto_detect = false, columns = {{{declared}}})"
    ).fetchall()
    assert len(expected) == 442 and odf_rows(stored, schema) == sorted(expected)


def test_a_literal_z_format_across_new_yorks_dst_change(tmp_path, monkeypatch):
    from tests.contracts.test_real_datasets import CASES

    spec = dict(declarations()["nyc_weather"])
    spec["formats"] = {"time_hour": "%Y-%m-%dT%H:%M:%SZ"}
    spec["url"] = "weather.csv"
    spec.pop("aggregates", None)
    shutil.copy(DATA / "weather.csv", tmp_path)
    base = next(case for case in CASES if case.source == "nyc_weather")
    case = Case("nyc_weather", "2013-03-08", "2013-03-12", base.relation, tmp_path)
    check(case, spec, tmp_path, monkeypatch)


def test_a_literal_z_file_from_a_package_cuts_23_and_25_hour_days(tmp_path, monkeypatch):
    """Half-hourly UTC readings: the day New York falls back holds 50, the day it springs forward 46."""
    from tests.contracts.test_real_datasets import CASES

    spec = dict(declarations()["sea_surface_temperature"])
    spec["url"] = "sea_surface_temperature.csv.gz"
    shutil.copy(DATA / "sea_surface_temperature.csv.gz", tmp_path)
    base = next(case for case in CASES if case.source == "sea_surface_temperature")
    for first, last, day, readings in (
        ("2016-11-05", "2016-11-07", "2016-11-06", 50),
        ("2017-03-11", "2017-03-13", "2017-03-12", 46),
    ):
        check(Case(base.source, first, last, base.relation, tmp_path), spec, tmp_path, monkeypatch)
        daily = read_partition(tmp_path / "storage", "aggregates/sea_surface_temperature/daily_temperature", day)
        assert daily["readings"].to_list() == [readings]
