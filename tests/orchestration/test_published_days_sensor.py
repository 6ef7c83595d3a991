"""The published-days sensor on a real failed run of a source's ingest job (the schedule's job, over
a range as a job backfill runs it): one day's fetch fails, the others are published, Dagster skips
the aggregates for the whole run. The sensor requests the aggregates for the published days in
the same job, names the skipped day on the failed run, and its requests, run as the daemon would,
leave the aggregates of every good day stored and the bad day untouched.

The daemon path (a backfill launched over GraphQL) is in tests/orchestration/test_dagster_e2e.py.
"""

from __future__ import annotations

import dagster as dg

from odf.definitions import build_definitions
from odf_resources.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from odf_sensors.published_days import (
    FOLLOW_UP_TAG,
    FOLLOWS_RUN_TAG,
    PUBLISHED_DAYS_SENSOR,
    SKIPPED_DAYS_TAG,
    SKIPPED_DOWNSTREAM_TAG,
    plan_follow_up,
)
from tests.support.pipeline import shop_source, write_registry

RAW, AGGREGATE = "raw/shop_sales", "aggregates/shop_sales/by_shop"
DAYS = ["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04"]
BAD_DAY = "2024-02-03"  # not served: its fetch fails


def stored(storage, asset: str, day: str) -> bool:
    return (storage / asset / f"date={day}" / "data.parquet").is_file()


def test_a_failed_range_run_of_the_ingest_job_is_followed_for_its_published_days(source_server, tmp_path, monkeypatch):
    for day in DAYS:
        if day != BAD_DAY:
            (source_server.root / f"{day}.csv").write_text(f"receipt,shop,amount\n{day}-1,north,1.5\n{day}-2,south,2\n")
    spec = shop_source(
        url_template=f"{source_server.url}/{{date}}.csv",
        format="csv",
        start_date="2024-02-01",
        key=["receipt"],
        schema={"receipt": "string", "shop": "string", "amount": "float64"},
        aggregates=[
            {"name": "by_shop", "group_by": ["shop"], "metrics": [{"agg": "sum", "column": "amount", "name": "total"}]}
        ],
    )
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [spec])))
    storage = tmp_path / "storage"
    defs = build_definitions()
    source = defs.resolve_job_def("ingest_daily_from_20240201")  # the only source on its days
    with dg.instance_for_test() as instance:
        failed = source.execute_in_process(
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: DAYS[0], PARTITION_RANGE_END_TAG: DAYS[-1]},
            raise_on_error=False,
        )
        assert not failed.success
        assert [stored(storage, RAW, day) for day in DAYS] == [True, True, False, True]
        assert not any(stored(storage, AGGREGATE, day) for day in DAYS)  # Dagster skipped the step
        # The UI's partition status: the failed day is failed, not missing. Dagster derives it from
        # one ASSET_MATERIALIZATION_PLANNED event per day without a materialization, so ODF keeps
        # that default: DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS (one planned event per
        # asset and run) leaves failed days unmarked (README, Performance).
        raw = dg.AssetKey.from_user_string(RAW)
        status = instance.get_status_by_partition(raw, DAYS, defs.resolve_asset_graph().get(raw).partitions_def)
        assert {day: getattr(state, "value", None) for day, state in status.items()} == {
            day: "FAILED" if day == BAD_DAY else "MATERIALIZED" for day in DAYS
        }

        sensor = defs.resolve_sensor_def(PUBLISHED_DAYS_SENSOR)
        context = dg.build_run_status_sensor_context(
            sensor_name=PUBLISHED_DAYS_SENSOR,
            dagster_event=failed.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(failed.run_id),
        ).for_run_failure()
        requests = list(sensor(context))
        # One range run per span of published days, in the source's ingest job, the aggregates only.
        assert [
            (r.partition_key, r.tags.get(PARTITION_RANGE_START_TAG), r.tags.get(PARTITION_RANGE_END_TAG))
            for r in requests
        ] == [
            (None, "2024-02-01", "2024-02-02"),
            ("2024-02-04", None, None),
        ]
        for request in requests:
            assert request.job_name == "ingest_daily_from_20240201"
            assert request.asset_selection == [dg.AssetKey.from_user_string(AGGREGATE)]
            assert request.tags[FOLLOWS_RUN_TAG] == failed.run_id and request.tags[SKIPPED_DAYS_TAG] == BAD_DAY
            assert request.tags["odf/queue"] == "aggregation"
        tags = instance.get_run_by_id(failed.run_id).tags
        assert tags[SKIPPED_DOWNSTREAM_TAG] == f"{BAD_DAY}: {AGGREGATE} ({RAW} failed that day)"
        assert tags[FOLLOW_UP_TAG] == (
            f"ingest_daily_from_20240201: {AGGREGATE} for 3 published day(s): 2024-02-01..2024-02-02, 2024-02-04"
        )
        # A second evaluation of the same failure asks for the same run keys: the daemon starts nothing twice.
        assert [r.run_key for r in sensor(context)] == [r.run_key for r in requests]

        for request in requests:  # as the sensor daemon launches them
            result = source.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                asset_selection=request.asset_selection,
                tags=request.tags,
            )
            assert result.success
    assert [stored(storage, AGGREGATE, day) for day in DAYS] == [True, True, False, True]


def test_the_plan_intersects_published_days_and_stays_inside_the_run():
    raw, agg, sales, other = (dg.AssetKey([name]) for name in ("raw", "agg", "sales", "other"))
    children = {raw: [agg, other], agg: [sales]}
    plan = plan_follow_up({raw: (["d3"], ["d1", "d2"])}, planned=[raw, agg, sales], children=children)
    assert plan.assets == [agg, sales] and plan.days == ["d1", "d2"]  # `other` was not in the run
    assert plan.skipped == [("agg", "d3", "raw failed that day"), ("sales", "d3", "raw failed that day")]
    # Two failed assets: only the days both published are followed.
    both = plan_follow_up({raw: (["d3"], ["d1", "d2"]), other: (["d1"], ["d2", "d3"])}, [raw, agg, other], children)
    assert both.days == ["d2"] and both.assets == [agg]
    # Nothing downstream in the run: nothing to follow, nothing skipped.
    assert plan_follow_up({raw: (["d3"], ["d1"])}, [raw], children).days == []
