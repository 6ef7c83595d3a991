"""Loose ends: a light code location and CLI, descriptions everywhere, Dagster owners, rounded previews."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import polars as pl
import pytest

from odf_cli.main import build_parser
from odf_resources.parquet_io_manager import markdown_preview

HEAVY = ("sklearn", "skl2onnx", "onnxruntime", "boto3", "numpy")


def modules_after(code: str, **env: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_code_location_loads_without_model_libraries_storage_or_network_and_cli_without_dagster(tmp_path):
    storage = tmp_path / "not-created"
    loaded = modules_after("import odf.definitions", ODF_STORAGE=str(storage))
    assert not loaded & set(HEAVY), f"imported while loading definitions: {sorted(loaded & set(HEAVY))}"
    assert not storage.exists(), "loading definitions must not touch storage"
    # An S3 storage behind a closed port: loading still needs neither boto3 nor the network.
    on_s3 = modules_after(
        "import odf.definitions", ODF_STORAGE="s3://no-bucket/odf", AWS_ENDPOINT_URL="http://127.0.0.1:9"
    )
    assert "boto3" not in on_s3
    cli = modules_after("from odf_cli.main import build_parser\nbuild_parser().format_help()")
    assert not cli & {"dagster", "polars", "requests", "odf_assets"}, sorted(
        cli & {"dagster", "polars", "requests", "odf_assets"}
    )


def test_odf_help_imports_no_subcommand_and_lists_what_the_subcommands_register():
    from odf_cli.main import COMMANDS, SUBCOMMAND_MODULES

    def run_cli(*args: str) -> str:
        main = "from odf_cli.main import main\ntry: main()\nexcept SystemExit: pass"
        return f"import sys\nsys.argv = ['odf', *{list(args)!r}]\n{main}"

    help_only = modules_after(run_cli("--help"))
    assert not help_only & {*SUBCOMMAND_MODULES, "odf_resources.settings", "dataclasses"}, sorted(help_only)
    one = modules_after(run_cli("status", "--help"))
    assert "odf_cli.remote" in one and not one & {"odf_cli.local_run", "odf_cli.submit"}, sorted(one)
    # The short listing is what the modules register, in the same order.
    registered = build_parser()._subparsers._group_actions[0]._choices_actions  # argparse's help rows
    assert [(row.dest, row.help) for row in registered] == [(name, text) for name, (_, text) in COMMANDS.items()]


def test_the_console_script_exits_with_its_status_after_the_exit_handlers_without_teardown(tmp_path):
    """``odf`` skips the interpreter's teardown (exit_without_teardown), not what exit promises: the
    entry's status (also through SystemExit), every exit handler, a temporary folder's finalizer,
    buffered output on a pipe."""

    def finish(entry_body: str) -> subprocess.CompletedProcess:
        probe = (
            "import atexit, gc, sys, tempfile\n"
            "from odf_cli.main import exit_without_teardown\n"
            # A teardown would run this finalizer; skipping the teardown must be visible by its absence.
            "class Torn:\n"
            "    def __del__(self):\n"
            "        print('torn down')\n"
            "gc.disable()\n"
            "cycle = Torn(); cycle.me = cycle; del cycle\n"
            "def entry():\n"
            "    global leftover\n"
            f"    leftover = tempfile.TemporaryDirectory(dir={str(tmp_path)!r})\n"
            "    atexit.register(lambda: print('handler ran'))\n"
            "    print('x' * 100_000, end='')\n"
            f"    {entry_body}\n"
            "exit_without_teardown(entry)\n"
        )
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)

    for body, status in (("return 3", 3), ("return None", 0), ("sys.exit(2)", 2), ("raise ValueError('boom')", 1)):
        done = finish(body)
        assert done.returncode == status, (body, done.stderr)
        assert done.stdout == "x" * 100_000 + "handler ran\n", body  # flushed, handler ran, no teardown
        assert not list(tmp_path.iterdir()), "the temporary folder's finalizer ran"
    assert "ValueError: boom" in done.stderr


def test_every_sensor_schedule_job_and_command_has_a_description():
    from odf.definitions import build_definitions

    defs = build_definitions()
    repository = defs.get_repository_def()
    undescribed = [
        f"{kind} {item.name}"
        for kind, items in (
            ("sensor", repository.sensor_defs),
            ("schedule", repository.schedule_defs),
            ("job", repository.get_all_jobs()),
        )
        for item in items
        if not item.name.startswith("__") and not (item.description or "").strip()
    ]
    assert not undescribed
    commands = build_parser()._subparsers._group_actions[0].choices  # argparse keeps subparsers here
    assert {name: bool(parser.description) for name, parser in commands.items()} == dict.fromkeys(commands, True)


def test_every_asset_is_owned_by_the_pipeline_team_and_the_publisher_stays_in_metadata(monkeypatch):
    from odf.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    owners = {key.to_user_string(): graph.get(key).owners for key in graph.get_all_asset_keys()}
    assert set(map(tuple, owners.values())) == {("team:data-platform",)}, owners
    raw = graph.get(dg.AssetKey(["raw", "iowa_liquor_sales"]))
    assert raw.metadata["publisher"].startswith("ODF maintainers") and "owner" not in raw.metadata

    monkeypatch.setenv("ODF_PIPELINE_OWNER", "ops@example.org")
    assert build_definitions().resolve_asset_graph().get(dg.AssetKey(["sales", "cleaned_sales"])).owners == [
        "ops@example.org"
    ]
    monkeypatch.setenv("ODF_PIPELINE_OWNER", "Data Platform")
    with pytest.raises(ValueError, match=r"ODF_PIPELINE_OWNER='Data Platform': expected team:<name>"):
        build_definitions()


def test_previews_round_floats():
    preview = markdown_preview(pl.DataFrame({"revenue": [13200.760000000002, None], "n": [3, 4]}))
    assert "| 13200.76 | 3 |" in preview and "|  | 4 |" in preview


def test_a_materialization_leaves_no_staging_folder_behind(tmp_path):
    """Each write stages in a private folder; the shared staging directory goes once it is empty."""
    from odf_resources.parquet_io_manager import OdfParquetIOManager

    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-04")

    @dg.asset(partitions_def=daily, io_manager_key="pq", metadata={"partition_expr": "date"})
    def numbers(context):
        days = context.partition_keys
        return pl.DataFrame({"date": pl.Series(days).str.to_date(), "n": list(range(len(days)))})

    base = tmp_path / "storage"
    resources = {"pq": OdfParquetIOManager.at(str(base))}
    assert dg.materialize([numbers], partition_key="2024-01-01", resources=resources).success
    from odf_resources.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    backfill = {PARTITION_RANGE_START_TAG: "2024-01-02", PARTITION_RANGE_END_TAG: "2024-01-03"}
    assert dg.materialize([numbers], tags=backfill, resources=resources).success
    assert (base / "numbers" / "date=2024-01-03" / "data.parquet").is_file()
    assert sorted(p.name for p in base.iterdir()) == ["numbers"]


def test_concurrent_staging_areas_survive_each_other_removing_the_shared_folder(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from odf_resources.storage import LocalStorage

    storage = LocalStorage(tmp_path / "storage")

    def stage(index: int) -> bool:
        for _ in range(300):
            with storage.staging_area() as folder:
                (folder / "part").write_text(str(index))
                if (folder / "part").read_text() != str(index):
                    return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(stage, range(8)))
    assert not (tmp_path / "storage" / ".tmp-staging").exists()
