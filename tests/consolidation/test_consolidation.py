"""Cross-source consolidations: registry validation at load time, join and union through ODF's real
definitions (local and loopback-S3 storage), a day missing from one input, and the examples'
weather × Brent consolidation compared with DuckDB joining the original files."""

from __future__ import annotations

import copy
import math
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml

from odf.definitions import build_definitions
from odf_assets.checks import DATA_CONTRACT
from odf_assets.sources.consolidation_assets import INPUTS_PRESENT
from odf_assets.sources.consolidations import load_consolidations
from odf_assets.sources.registry import RegistryError, load_registry
from odf_resources.lineage.metadata import LINEAGE_METADATA_KEY
from odf_resources.storage import storage_from_uri
from tests.support.pipeline import failure_messages, run_assets

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


def portal(name: str, value_column: str, rows: str, **extra) -> dict:
    return {
        "name": name,
        "description": f"{name} per region and day",
        "license": "CC0-1.0",
        "owner": "tests",
        "url": f"{name}.csv",
        "date_column": "day",
        "format": "csv",
        "schema": {"day": "date", "region": "string", value_column: extra.pop("value_type", "int64")},
        "start_date": "2024-01-01",
        "end_date": extra.pop("end_date", "2024-01-03"),
        **extra,
    }


def write_portals(directory: Path) -> tuple[Path, Path]:
    """Two portals in one file; portal_b publishes nothing on 2024-01-02. Consolidations go in a second file."""
    (directory / "portal_a.csv").write_text(
        "day,region,permits\n2024-01-01,north,3\n2024-01-01,south,5\n2024-01-02,north,4\n2024-01-03,north,1\n2024-01-03,south,2\n"
    )
    (directory / "portal_b.csv").write_text(
        "day,region,fees\n2024-01-01,north,10.5\n2024-01-01,south,20.0\n2024-01-01,south,1.5\n2024-01-03,south,7.25\n"
    )
    sources = directory / "portals.yaml"
    sources.write_text(
        yaml.safe_dump(
            {"sources": [portal("portal_a", "permits", ""), portal("portal_b", "fees", "", value_type="float64")]},
            sort_keys=False,
        )
    )
    return sources, directory / "consolidations.yaml"


JOINED = {
    "name": "permits_and_fees",
    "combine": "join",
    "keys": ["region"],
    "inputs": [{"source": "portal_a"}, {"source": "portal_b", "columns": ["fees"]}],
    "group_by": ["region"],
    "metrics": [
        {"agg": "sum", "column": "permits", "name": "permits"},
        {"agg": "sum", "column": "fees", "name": "fees"},
        {"agg": "count", "name": "pairs"},
    ],
}
STACKED = {
    "name": "rows_per_portal",
    "combine": "union",
    "keys": ["region"],
    "source_column": "portal",
    "inputs": [{"source": "portal_a"}, {"source": "portal_b"}],
    "group_by": ["portal"],
    "metrics": [{"agg": "count", "name": "rows"}, {"agg": "distinct_count", "column": "region", "name": "regions"}],
}


def write_consolidations(path: Path, *consolidations: dict) -> Path:
    path.write_text(yaml.safe_dump({"consolidations": list(consolidations)}, sort_keys=False))
    return path


def load(tmp_path: Path, *consolidations: dict):
    sources, extra = write_portals(tmp_path)
    files = [sources, write_consolidations(extra, *consolidations)]
    return load_consolidations(files, load_registry(files))


# -- load-time validation ----------------------------------------------------------------------


def test_a_consolidation_reads_sources_of_another_registry_file(tmp_path):
    (spec,) = load(tmp_path, JOINED)
    assert [i.source for i in spec.inputs] == ["portal_a", "portal_b"]
    assert spec.schema == {"region": "string", "permits": "int64", "fees": "float64"}
    assert (str(spec.start_date), str(spec.end_date)) == ("2024-01-01", "2024-01-03")


def changed(base: dict, **changes) -> dict:
    return {**base, **changes}


@pytest.mark.parametrize(
    ("consolidation", "expected"),
    [
        (
            changed(JOINED, inputs=[{"source": "portal_a"}]),
            "consolidations[0] (permits_and_fees).inputs: a consolidation needs at least two inputs, got 1",
        ),
        (
            changed(JOINED, inputs=[{"source": "portal_a"}, {"source": "nowhere"}]),
            "inputs[1].source: unknown source 'nowhere'",
        ),
        (
            changed(JOINED, inputs=[{"source": "portal_a"}, {"source": "portal_a"}]),
            "inputs[1].source: 'portal_a' is already inputs[0]",
        ),
        (changed(JOINED, keys=["county"]), ".keys: column 'county' is not among inputs[0] (portal_a)'s columns"),
        (
            changed(
                JOINED,
                inputs=[
                    {"source": "portal_a"},
                    {"source": "portal_b", "columns": {"fees": "amount", "region": "amount"}},
                ],
            ),
            "inputs[1] (portal_b).columns.region: output name 'amount' is taken twice in this input",
        ),
        (
            changed(JOINED, keys=[], inputs=[{"source": "portal_a"}, {"source": "portal_b"}]),
            "inputs[1].columns: column 'region' is also in inputs[0] (portal_a): rename one",
        ),
        (
            changed(
                JOINED,
                keys=["permits"],
                inputs=[{"source": "portal_a"}, {"source": "portal_b", "columns": {"fees": "permits"}}],
            ),
            ".keys: column 'permits' has types {'portal_a': 'int64', 'portal_b': 'float64'}: join needs the same type",
        ),
        (
            changed(JOINED, inputs=[{"source": "portal_a"}, {"source": "portal_b", "columns": ["colour"]}]),
            "inputs[1] (portal_b).columns: column 'colour' is not in portal_b's schema",
        ),
        (
            changed(JOINED, metrics=[{"agg": "sum", "column": "region"}]),
            "consolidations[0] (permits_and_fees).metrics[0].column: sum needs a numeric column",
        ),
        (
            changed(JOINED, metrics=[{"agg": "count", "name": "region"}]),
            ".metrics[0].name: 'region' is already a group_by column",
        ),
        (changed(JOINED, combine="merge"), ".combine: unknown combination 'merge'"),
        (changed(JOINED, source_column="portal"), ".source_column: applies to combine: union only"),
        (changed(STACKED, source_column="region"), ".source_column: 'region' is already a column of the combined rows"),
        (changed(JOINED, colour="red"), "consolidations[0] (permits_and_fees).colour: unknown key"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_bad_consolidations_fail_at_load_naming_file_and_key(tmp_path, consolidation, expected):
    with pytest.raises(RegistryError) as error:
        load(tmp_path, consolidation)
    assert str(error.value).startswith(str(tmp_path / "consolidations.yaml") + ": ")
    assert expected in str(error.value)


def test_union_stacks_int_and_float_as_float_and_refuses_other_mixes(tmp_path):
    (spec,) = load(
        tmp_path,
        changed(
            STACKED,
            keys=["amount"],
            metrics=[{"agg": "sum", "column": "amount"}],
            inputs=[
                {"source": "portal_a", "columns": {"permits": "amount"}},
                {"source": "portal_b", "columns": {"fees": "amount"}},
            ],
        ),
    )
    assert spec.schema == {"amount": "float64", "portal": "string"}
    with pytest.raises(RegistryError, match=r"column 'region' has types .*union needs the same type"):
        load(
            tmp_path,
            changed(
                STACKED,
                keys=["region"],
                inputs=[{"source": "portal_a", "columns": {"permits": "region"}}, {"source": "portal_b"}],
            ),
        )


def test_two_consolidations_with_one_name_and_inputs_without_shared_days_are_refused(tmp_path):
    with pytest.raises(
        RegistryError, match=r"consolidations\[1\] \(permits_and_fees\).name: 'permits_and_fees' is already declared"
    ):
        load(tmp_path, JOINED, copy.deepcopy(JOINED))
    sources, extra = write_portals(tmp_path)
    document = yaml.safe_load(sources.read_text())
    document["sources"][1].update(start_date="2023-01-01", end_date="2023-12-31")
    sources.write_text(yaml.safe_dump(document))
    files = [sources, write_consolidations(extra, JOINED)]
    with pytest.raises(RegistryError, match=r"\.inputs: the inputs share no day"):
        load_consolidations(files, load_registry(files))


def test_a_bare_on_key_is_reported_not_misread(tmp_path):
    # YAML 1.1 reads `on:` as the boolean true; the error still names the mapping and the keys allowed.
    sources, extra = write_portals(tmp_path)
    extra.write_text("consolidations:\n  - name: x\n    combine: join\n    on: [region]\n")
    with pytest.raises(RegistryError, match=r"consolidations\[0\] \(x\)\.True: unknown key \(expected one of .*'keys'"):
        load_consolidations([sources, extra], load_registry([sources, extra]))


# -- materialization -----------------------------------------------------------------------------


def read_day(storage_uri: str, asset: str, day: str) -> pl.DataFrame | None:
    storage = storage_from_uri(storage_uri)
    key = f"{asset}/date={day}/data.parquet"
    return pl.read_parquet(storage.read_bytes(key)) if storage.exists(key) else None


def check_results(
    instance: dg.DagsterInstance, run_id: str, asset: str, check: str
) -> dict[str, dg.AssetCheckEvaluation]:
    """A run's evaluations of one check of one asset, by partition (logged ones included)."""
    found = {}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event and entry.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = entry.dagster_event.event_specific_data
            if evaluation.check_name == check and evaluation.asset_key.to_user_string() == asset:
                found[evaluation.partition] = evaluation
    return found


def test_join_and_union_per_day_and_a_missing_input_day_fails_naming_it(tmp_path, storage_uri, monkeypatch):
    sources, extra = write_portals(tmp_path)
    monkeypatch.setenv("ODF_SOURCES", f"{sources}:{write_consolidations(extra, JOINED, STACKED)}")
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["consolidations", "permits_and_fees"])).parent_keys == {
        dg.AssetKey(["raw", "portal_a"]),
        dg.AssetKey(["raw", "portal_b"]),
    }
    # portal_b has no rows on 2024-01-02: that raw day is not stored.
    for raw in ("raw/portal_a", "raw/portal_b"):  # one run per partitioning
        run_assets(defs, [raw], partition_range=(DAYS[0], DAYS[-1]))
    assert read_day(storage_uri, "raw/portal_b", DAYS[1]) is None

    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(
        defs,
        ["consolidations/permits_and_fees", "consolidations/rows_per_portal"],
        partition_range=(DAYS[0], DAYS[-1]),
        instance=instance,
    )
    assert not result.success
    message = failure_messages(result)
    assert "consolidations/permits_and_fees: 1 day(s) failed ERROR checks" in message
    assert f"{DAYS[1]}: {INPUTS_PRESENT}: no partition of raw/portal_b for this day" in message

    joined = read_day(storage_uri, "consolidations/permits_and_fees", DAYS[0])
    assert joined.to_dicts() == [
        {"date": date(2024, 1, 1), "region": "north", "permits": 3, "fees": 10.5, "pairs": 1},
        {"date": date(2024, 1, 1), "region": "south", "permits": 10, "fees": 21.5, "pairs": 2},
    ]
    assert read_day(storage_uri, "consolidations/permits_and_fees", DAYS[1]) is None
    assert read_day(storage_uri, "consolidations/permits_and_fees", DAYS[2]).select(
        "region", "permits", "fees"
    ).rows() == [("south", 2, 7.25)]
    stacked = read_day(storage_uri, "consolidations/rows_per_portal", DAYS[0])
    assert stacked.select("portal", "rows", "regions").rows() == [("portal_a", 2, 2), ("portal_b", 3, 2)]
    assert (
        read_day(storage_uri, "consolidations/rows_per_portal", DAYS[1]) is None
    )  # portal_a's rows alone are not published

    # Lineage: each published day names both raw inputs as its upstream datasets.
    records = instance.fetch_materializations(dg.AssetKey(["consolidations", "permits_and_fees"]), limit=10).records
    assert sorted(r.partition_key for r in records) == [DAYS[0], DAYS[2]]
    for record in records:
        lineage = record.asset_materialization.metadata[LINEAGE_METADATA_KEY].value
        assert lineage["inputs"] == ["raw/portal_a", "raw/portal_b"]
    for asset in ("consolidations/permits_and_fees", "consolidations/rows_per_portal"):
        verdicts = check_results(instance, result.run_id, asset, DATA_CONTRACT)
        assert {day: v.passed for day, v in verdicts.items()} == {DAYS[0]: True, DAYS[1]: False, DAYS[2]: True}
        assert verdicts[DAYS[1]].metadata["failed_parts"].value[0] == INPUTS_PRESENT
        assert verdicts[DAYS[1]].metadata[f"{INPUTS_PRESENT}.missing_inputs"].value == ["no partition of raw/portal_b"]


def test_a_day_with_no_input_at_all_fails_naming_every_missing_input(tmp_path, monkeypatch):
    sources, extra = write_portals(tmp_path)
    monkeypatch.setenv("ODF_SOURCES", f"{sources}:{write_consolidations(extra, JOINED)}")
    result = run_assets(build_definitions(), ["consolidations/permits_and_fees"], partition_key=DAYS[0])
    assert not result.success
    assert (
        f"{DAYS[0]}: {INPUTS_PRESENT}: no partition of raw/portal_a; no partition of raw/portal_b for this day"
        in failure_messages(result)
    )


# -- the examples: NYC weather × Brent, against DuckDB on the original files ----------------------


def test_examples_weather_and_brent_equal_duckdb_weekends_are_empty_and_a_missing_input_is_named(tmp_path, monkeypatch):
    first, last, unfetched = "2013-01-01", "2013-01-08", "2013-01-09"
    storage = tmp_path / "storage"
    monkeypatch.setenv("ODF_SOURCES", f"{EXAMPLES / 'sources.yaml'}:{EXAMPLES / 'consolidations.yaml'}")
    defs = build_definitions()
    run_assets(defs, ["raw/nyc_weather"], partition_range=(first, last))
    run_assets(defs, ["raw/brent_spot_price"], partition_range=(first, unfetched))
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(
        defs, ["consolidations/weather_and_brent"], partition_range=(first, unfetched), instance=instance
    )
    # Brent declares its gaps (allow_empty_days): New Year and the weekend are published empty, every
    # check passing; only the day whose weather was never fetched fails, naming that input.
    message = failure_messages(result)
    assert f"{unfetched}: {INPUTS_PRESENT}: no partition of raw/nyc_weather for this day" in message
    assert "1 day(s) failed ERROR checks" in message and "raw/brent_spot_price" not in message
    for day in ("2013-01-01", "2013-01-05", "2013-01-06"):
        empty = pl.read_parquet(storage / "consolidations/weather_and_brent" / f"date={day}" / "data.parquet")
        assert empty.height == 0
    verdicts = check_results(instance, result.run_id, "consolidations/weather_and_brent", DATA_CONTRACT)
    assert {day for day, evaluation in verdicts.items() if not evaluation.passed} == {unfetched}
    assert len(verdicts) == 9
    failed_parts = verdicts[unfetched].metadata["failed_parts"].value
    assert failed_parts[0] == INPUTS_PRESENT and "non_empty_partition" not in failed_parts, failed_parts

    # Weather days are cut in the registry's zone for nyc_weather (UTC when it declares none).
    weather = next(
        s for s in yaml.safe_load((EXAMPLES / "sources.yaml").read_text())["sources"] if s["name"] == "nyc_weather"
    )
    zone = weather.get("timezone") or "UTC"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    expected = con.execute(f"""
        WITH weather AS (
            SELECT origin, temp, precip,
                   CAST(timezone('{zone}', timezone('UTC', strptime(time_hour, '%Y-%m-%dT%H:%M:%SZ'))) AS DATE) AS day
            FROM read_csv('{EXAMPLES}/data/weather.csv', header = true, nullstr = 'NA',
                          auto_detect = true, all_varchar = true)
        ), brent AS (
            SELECT CAST(strptime(day, '%m/%d/%Y') AS DATE) AS day, CAST(DPB AS DOUBLE) AS price
            FROM read_csv('{EXAMPLES}/data/brent_crude_oil.csv', header = true, all_varchar = true)
        )
        SELECT w.day, origin, count(*), avg(CAST(temp AS DOUBLE)), sum(CAST(precip AS DOUBLE)), max(price)
        FROM weather w JOIN brent b ON w.day = b.day
        WHERE w.day BETWEEN DATE '{first}' AND DATE '{last}'
        GROUP BY w.day, origin ORDER BY w.day, origin
    """).fetchall()
    assert {str(row[0]) for row in expected} == {"2013-01-02", "2013-01-03", "2013-01-04", "2013-01-07", "2013-01-08"}
    actual = []
    for day in sorted({str(row[0]) for row in expected}):
        frame = pl.read_parquet(storage / "consolidations/weather_and_brent" / f"date={day}" / "data.parquet")
        actual += frame.select("date", "origin", "observations", "mean_temp", "precip_total", "brent_price").rows()
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert mine[:3] == theirs[:3]
        assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(mine[3:], theirs[3:], strict=True)), (mine, theirs)
    assert not (storage / "consolidations/weather_and_brent" / f"date={unfetched}").exists()
