"""Cheaper SQLite writes for a run executed in this process on a local (SQLite) instance.

Dagster's SQLite storages open a new engine without a pool for every read and write and close it
afterwards. Each close is the database's last connection, so SQLite checkpoints the write-ahead log
into the database, syncs it and deletes the log, and the next write creates it again: every event
is several ``fsync`` calls. ``local_sqlite_writes`` changes two SQLite settings for this process
only, through SQLAlchemy's documented ``connect`` event:

* ``synchronous=NORMAL`` on each connection. In WAL mode a commit then no longer waits for the
  disk; the database stays consistent after a crash, and a power loss may drop the last
  transactions (SQLite's documented trade-off, the one most WAL applications make). A run lost that
  way is re-run; the data ODF publishes is synced by ODF itself.
* One idle connection per database file, held open while the block runs, so that Dagster's closes
  are no longer the last ones: the log is checkpointed when it grows (SQLite's automatic
  checkpoint) and when the block ends, not after every event.
* About once a second, a passive checkpoint of each held database whose log has new frames. Dagster's
  SQLite log watcher (the webserver's live log view of a run) re-reads a run's events when the run's
  database file changes, and with the log held that file would otherwise change only when the log
  grows large or the block ends. A passive checkpoint never waits for or blocks a writer.

Nothing changes for PostgreSQL or for other processes (the webserver, the daemon): they keep
their own connections and settings and read the same files.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine


class _HeldDatabases:
    """Sets the pragma on each new SQLite connection, keeps one idle reader per WAL database and
    checkpoints the held databases' new log frames every ``checkpoint_interval`` seconds."""

    def __init__(self, checkpoint_interval: float = 1.0) -> None:
        self.readers: dict[str, sqlite3.Connection] = {}
        self.lock = threading.Lock()  # Dagster connects from more than one thread
        self._checkpoint_interval = checkpoint_interval
        self._stopping = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_periodically, name="sqlite-checkpoints", daemon=True
        )

    def on_connect(self, dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous=NORMAL")
            path = next((row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"), "")
            if not path or path in self.readers:
                return
            # A new database is switched to WAL by Dagster after its first connection: held from the next.
            # Holding is only an optimisation: a busy or odd database is simply not held.
            with contextlib.suppress(sqlite3.Error):
                if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                    with self.lock:
                        if path not in self.readers:
                            self.readers[path] = self._hold(path)
        finally:
            cursor.close()

    @staticmethod
    def _hold(path: str) -> sqlite3.Connection:
        reader = sqlite3.connect(path, check_same_thread=False)
        # A read maps the WAL index; from then on this connection holds the database's shared lock.
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return reader

    def start(self) -> None:
        self._checkpointer.start()

    def _checkpoint_periodically(self) -> None:
        while not self._stopping.wait(self._checkpoint_interval):
            self.checkpoint_new_frames()

    def checkpoint_new_frames(self) -> None:
        """Copies the logs' new frames into their databases. SQLite does nothing, and writes nothing,
        for a log whose frames are all in the database already."""
        with self.lock:
            for reader in self.readers.values():
                with contextlib.suppress(sqlite3.Error):  # an optimisation only: the block's end checkpoints anyway
                    reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def release(self) -> None:
        self._stopping.set()
        if self._checkpointer.is_alive():
            self._checkpointer.join()
        with self.lock:
            readers = list(self.readers.values())
            self.readers.clear()
        for reader in readers:
            with contextlib.suppress(sqlite3.Error):
                reader.close()  # the last close checkpoints the log into the database


@contextlib.contextmanager
def local_sqlite_writes() -> Iterator[None]:
    """Within the block, this process's SQLite connections commit without waiting for the disk and
    the databases they open are checkpointed about once a second and when the block ends."""
    held = _HeldDatabases()
    event.listen(Engine, "connect", held.on_connect)
    try:
        held.start()
        yield
    finally:
        event.remove(Engine, "connect", held.on_connect)
        held.release()
