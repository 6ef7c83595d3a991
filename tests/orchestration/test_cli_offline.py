"""The remote ``odf`` commands without a Dagster: unreachable or wrong servers and malformed input
fail with one clear line and exit status 2, before anything could be launched."""

import subprocess
import sys
from pathlib import Path

import pytest

from odf_cli.main import main as odf
from tests.support.servers import clean_env, free_port

REPO = Path(__file__).resolve().parents[2]


def cli(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    status = odf(list(args))
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err


def test_unreachable_webserver_through_the_installed_entry_point():
    url = f"http://127.0.0.1:{free_port()}"
    odf_script = Path(sys.executable).parent / "odf"
    done = subprocess.run(
        [str(odf_script), "trigger", "--asset", "raw/iowa_liquor_sales", "--date", "2024-01-05", "--url", url],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"odf trigger: cannot reach the Dagster webserver at {url} (is `odf dev` running? set --url or ODF_DAGSTER_URL)"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["trigger", "--asset", "raw/iowa_liquor_sales", "--date", "2024-01-05"],
        ["backfill", "--asset", "raw/iowa_liquor_sales", "--start", "2024-01-01", "--end", "2024-01-31"],
        ["status", "abcdefgh"],
        ["results", "--asset", "raw/iowa_liquor_sales", "--date", "2024-01-05"],
    ],
    ids=["trigger", "backfill", "status", "results"],
)
def test_every_remote_command_names_the_unreachable_url_from_the_environment(capsys, monkeypatch, args):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ODF_DAGSTER_URL", url)
    status, err = cli(capsys, *args)
    assert status == 2
    assert (
        err == f"odf {args[0]}: cannot reach the Dagster webserver at {url} "
        "(is `odf dev` running? set --url or ODF_DAGSTER_URL)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["trigger", "--asset", "raw/x", "--date", "2024-02-30"],
            "odf trigger: --date '2024-02-30' is not a date (expected YYYY-MM-DD)",
        ),
        (
            ["trigger", "--asset", "raw/x", "--date", "yesterday"],
            "odf trigger: --date 'yesterday' is not a date (expected YYYY-MM-DD)",
        ),
        (
            ["backfill", "--asset", "raw/x", "--start", "2024-01-31", "--end", "2024-01-01"],
            "odf backfill: --end 2024-01-01 is before --start 2024-01-31",
        ),
        (
            ["backfill", "--asset", "raw/x", "--start", "2024-01-01", "--end", "2024/01/31"],
            "odf backfill: --end '2024/01/31' is not a date",
        ),
        # Python reads ISO basic format as a date, but it names no partition folder as typed: refused.
        (
            ["results", "--asset", "raw/x", "--date", "20240105"],
            "odf results: --date '20240105' is not a date (expected YYYY-MM-DD)",
        ),
        (
            ["trigger", "--asset", "raw/x", "--date", "2024-01-05", "--url", "ftp://127.0.0.1:3000"],
            "odf trigger: --url 'ftp://127.0.0.1:3000' is not an http(s) URL",
        ),
        # odf materialize runs in-process: its arguments are checked once, before settings load.
        (
            ["materialize", "--start", "2024-01-31", "--end", "2024-01-01"],
            "odf materialize: --end 2024-01-01 is before --start 2024-01-31",
        ),
        (["materialize", "--select", " "], "odf materialize: --select needs a selection"),
    ],
    ids=[
        "impossible-day",
        "not-a-date",
        "reversed-range",
        "slashes",
        "basic-iso",
        "bad-url",
        "materialize-reversed-range",
        "materialize-empty-select",
    ],
)
def test_malformed_input_is_refused_before_contacting_the_server(capsys, monkeypatch, args, message):
    unreachable = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ODF_DAGSTER_URL", unreachable)
    status, err = cli(capsys, *args)
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(message) if message else f"cannot reach the Dagster webserver at {unreachable}" in err


def test_a_server_that_is_not_dagster_is_named(capsys, source_server):
    status, err = cli(capsys, "status", "abcdefgh", "--url", source_server.url)
    assert status == 2
    assert (
        err == f"odf status: {source_server.url}/graphql answered HTTP 501 without GraphQL data: "
        "is this a Dagster webserver?\n"
    )
