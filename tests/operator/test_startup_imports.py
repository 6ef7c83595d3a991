"""Loading the code location stays light: no data, model, HTTP or cloud library is imported.

Every process that loads the definitions (code server, run workers, sensor ticks, ``dagster
definitions validate``) pays for what building them imports; ``bench/startup.py`` measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl

# Module level: the assets below are annotated with it, and Dagster resolves annotations by module.
from odf_resources.parquet_io_manager import LazyFrame, OdfParquetIOManager

DEFINITIONS_MODULE = "odf.definitions"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_REGISTRIES = f"{EXAMPLES / 'sources.yaml'}:{EXAMPLES / 'consolidations.yaml'}"

# Imported where they are used (asset bodies, resource methods), never while definitions build.
HEAVY_MODULES = (
    "polars",
    "pyarrow",
    "numpy",
    "urllib3",
    "requests",
    "boto3",
    "botocore",
    "onnxruntime",
    "onnx",
    "sklearn",
    "skl2onnx",
    "kubernetes",
    "dagster_k8s",
)


def test_building_the_definitions_imports_no_heavy_module(tmp_path):
    probe = (
        f"import importlib, json, sys\n"
        f"module = importlib.import_module({DEFINITIONS_MODULE!r})\n"
        f"assert any(key.path[0] == 'consolidations' for key in module.defs.resolve_all_asset_keys())\n"
        f"print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        # The examples add file sources and consolidations to the built-in registry.
        env={**os.environ, "ODF_STORAGE": str(tmp_path / "storage"), "ODF_SOURCES": EXAMPLE_REGISTRIES},
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}
    assert not loaded & set(HEAVY_MODULES), (
        f"imported while building definitions: {sorted(loaded & set(HEAVY_MODULES))}"
    )


def test_lazy_frame_inputs_are_checked_as_polars_lazy_frames():
    import importlib

    defs = importlib.import_module(DEFINITIONS_MODULE).defs
    raw = defs.get_assets_def(dg.AssetKey(["sales", "cleaned_sales"])).op.ins["raw"].dagster_type
    assert raw is LazyFrame and raw.display_name == "LazyFrame"
    assert raw.type_check(None, pl.LazyFrame()).success
    refused = raw.type_check(None, pl.DataFrame())
    assert not refused.success and refused.description == "expected a polars LazyFrame, got DataFrame"


def test_the_io_manager_scans_lazy_frame_inputs_and_collects_the_others(tmp_path):
    received = {}

    @dg.asset
    def numbers() -> pl.DataFrame:
        return pl.DataFrame({"a": [1, 2, 3]})

    @dg.asset
    def with_odf_lazy_frame(numbers: LazyFrame) -> None:
        received["odf LazyFrame"] = numbers

    @dg.asset
    def with_polars_hint(numbers: pl.LazyFrame) -> None:
        received["polars hint"] = numbers

    @dg.asset
    def unannotated(numbers) -> None:
        received["no hint"] = numbers

    assets = [numbers, with_odf_lazy_frame, with_polars_hint, unannotated]
    assert dg.materialize(assets, resources={"io_manager": OdfParquetIOManager.at(str(tmp_path))}).success
    assert {name: type(frame) for name, frame in received.items()} == {
        "odf LazyFrame": pl.LazyFrame,
        "polars hint": pl.LazyFrame,
        "no hint": pl.DataFrame,
    }
    assert received["odf LazyFrame"].collect()["a"].to_list() == [1, 2, 3]
