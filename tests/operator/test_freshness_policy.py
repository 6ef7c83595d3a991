"""Each source's freshness policy as the registry declares it: fetch_cron by default, freshness_cron
to override or remove it, none for a source that has ended; a bad expression names its key."""

from __future__ import annotations

import dagster as dg
import pytest

from odf.definitions import build_definitions
from tests.operator.cli_support import permits_source
from tests.support.pipeline import write_registry


def _open_ended(name: str, **extra) -> dict:
    source = {**permits_source("https://data.example.org"), "name": name, "aggregates": [], **extra}
    del source["end_date"]
    return source


def test_freshness_follows_fetch_cron_unless_the_registry_says_otherwise(tmp_path, monkeypatch):
    sources = [
        _open_ended("daily_feed", fetch_cron="15 3 * * *"),
        _open_ended("late_feed", freshness_cron="0 9 * * 1-5"),
        _open_ended("unwatched_feed", freshness_cron="none"),
        permits_source("https://data.example.org"),  # ended on 2024-02-29
    ]
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, sources)))
    graph = build_definitions().resolve_asset_graph()

    def policy(name: str):
        return graph.get(dg.AssetKey(["raw", name])).freshness_policy

    assert (policy("daily_feed").deadline_cron, policy("daily_feed").lower_bound_delta.total_seconds()) == (
        "15 3 * * *",
        86400,
    )
    assert policy("late_feed").deadline_cron == "0 9 * * 1-5"
    assert policy("unwatched_feed") is None and policy("city_permits") is None


def test_a_bad_freshness_cron_names_its_key(tmp_path, monkeypatch):
    registry = write_registry(tmp_path, [_open_ended("bad_feed", freshness_cron="61 * * * *")])
    monkeypatch.setenv("ODF_SOURCES", str(registry))
    with pytest.raises(ValueError, match=r"sources\[0\] \(bad_feed\)\.freshness_cron: expected a 5-field cron"):
        build_definitions()
