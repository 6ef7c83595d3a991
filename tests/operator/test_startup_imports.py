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


def test_lazy_frame_inputs_keep_the_polars_dagster_type():
    import importlib

    from odf_resources.parquet_io_manager import LazyFrame

    @dg.asset
    def hinted_with_polars(raw: pl.LazyFrame): ...

    # The stand-in annotation gives the Dagster type a pl.LazyFrame hint would, with the same checks.
    defs = importlib.import_module(DEFINITIONS_MODULE).defs
    raw = defs.get_assets_def(dg.AssetKey(["sales", "cleaned_sales"])).op.ins["raw"].dagster_type
    polars_raw = hinted_with_polars.op.ins["raw"].dagster_type
    assert raw.typing_type is LazyFrame
    assert (raw.key, raw.display_name, raw.description) == (
        polars_raw.key,
        polars_raw.display_name,
        polars_raw.description,
    )
    assert raw.type_check(None, pl.LazyFrame()).success
    assert not raw.type_check(None, pl.DataFrame()).success
