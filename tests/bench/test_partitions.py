"""bench.partitions stays runnable: every contender finishes a tiny range and the event count per day holds.

No timing is asserted (bench/partitions.py prints the figures). What is: each contender runs the
small pipeline over 1 and 2 days in its own process, and a day on the default instance writes the
events the per-day cost is made of, no more: one materialization and one planned event per asset,
one evaluation per declared check (raw: data_contract, data_quality; aggregate: data_contract).
"""

import pytest

from bench import partitions


@pytest.mark.slow
def test_every_contender_runs_the_small_pipeline_and_a_day_writes_seven_asset_events(monkeypatch):
    monkeypatch.chdir(partitions.ROOT)  # children start with ``python -m bench.partitions``
    table = partitions.main(["--pipelines", "small", "--days", "1", "2", "--repeats", "1"])
    assert set(table) == {("small", mode) for mode in ("default_instance", "in_memory", "dagster_free")}
    for row in table.values():
        assert all(seconds > 0 for seconds in row["medians"].values())
    events = table[("small", "default_instance")]["events"]
    per_day = {kind: events[2][kind] - events[1][kind] for kind in events[2] if "ASSET" in kind}
    assert per_day == {
        "ASSET_MATERIALIZATION": 2,
        "ASSET_MATERIALIZATION_PLANNED": 2,
        "ASSET_CHECK_EVALUATION": 3,
        "ASSET_CHECK_EVALUATION_PLANNED": 0,
    }
