"""A registry-added source served over loopback HTTP, and the ``odf`` CLI run as a user would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.pipeline import write_registry

BIN = Path(__import__("sys").executable).parent


def permits_source(url: str) -> dict:
    return {
        "name": "city_permits",
        "description": "Building permits per day (operator test source).",
        "license": "CC0-1.0",
        "owner": "City open-data portal",
        "group": "permits",
        "url_template": f"{url}/{{date}}.csv",
        "format": "csv",
        "schema": {"permit_id": "string", "district": "string", "fee": "float64"},
        "start_date": "2024-02-01",
        "end_date": "2024-02-29",
        "key": ["permit_id"],
        "aggregates": [
            {
                "name": "permits_by_district",
                "group_by": ["district"],
                "metrics": [{"agg": "count", "name": "permits"}, {"agg": "sum", "column": "fee", "name": "fees"}],
            }
        ],
    }


def serve_days(root: Path, days: list[str], duplicate_on: str | None = None) -> None:
    for day in days:
        rows = [f"{day}-1,north,10.5", f"{day}-2,south,20.25"]
        if day == duplicate_on:
            rows.append(rows[0])  # a repeated key: the ERROR check key_is_unique fails
        (root / f"{day}.csv").write_text("permit_id,district,fee\n" + "\n".join(rows) + "\n")


def cli_env(workdir: Path, source_url: str, **extra: str) -> dict[str, str]:
    """The environment a user would have: the added registry, loopback allowed, no DAGSTER_HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ODF_", "DAGSTER_HOME"))}
    env.update(
        ODF_SOURCES=str(write_registry(workdir, [permits_source(source_url)])),
        ODF_ALLOWED_HOSTS="127.0.0.1",
        ODF_RETRY_DELAY_SECONDS="0",
        **extra,
    )
    return env


def odf(cwd: Path, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``odf`` as a subprocess: stdout is a pipe, so the CLI sees no terminal."""
    return subprocess.run(
        [str(BIN / "odf"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
