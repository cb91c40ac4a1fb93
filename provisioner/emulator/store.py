"""Resource storage in SQLite: a file for the embedded emulator, or memory for tests.

One connection per store, guarded by a lock, so the threaded server is safe. Several
processes may share one file (WAL mode, busy timeout, immediate transactions). Decoded
resources are cached per process and dropped whenever another connection has committed
(`PRAGMA data_version`), so lists stay cheap without ever serving a stale object.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MEMORY = ":memory:"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, sandbox TEXT NOT NULL, id TEXT NOT NULL,
    seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, sandbox, id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('seq', '0');
"""

Resource = dict[str, Any]
Entry = tuple[int, Resource]  # (write sequence number, resource)


class Store:
    def __init__(self, path: str | Path = MEMORY) -> None:
        self.path = str(path)
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, str], dict[str, Entry]] = {}
        self._seen_version = -1
        with self._lock:
            if self.path != MEMORY:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('signing-key', ?)", (secrets.token_hex(32),)
            )
        self.signing_key = bytes.fromhex(self._meta("signing-key"))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Serialise a read-check-write sequence against threads and other processes."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._refresh()
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                self._cache.clear()
                raise
            self._db.execute("COMMIT")
            self._seen_version = self._data_version()

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _refresh(self) -> None:
        version = self._data_version()
        if version != self._seen_version:
            self._cache.clear()
            self._seen_version = version

    def _entries(self, kind: str, sandbox: str) -> dict[str, Entry]:
        key = (kind, sandbox)
        if key not in self._cache:
            rows = self._db.execute(
                "SELECT id, seq, body FROM resources WHERE kind = ? AND sandbox = ?", key
            )
            self._cache[key] = {rid: (seq, json.loads(body)) for rid, seq, body in rows}
        return self._cache[key]

    def entries(self, kind: str, sandbox: str) -> list[Entry]:
        """Every resource of a kind in a sandbox. Callers must not mutate them."""
        with self._lock:
            self._refresh()
            return list(self._entries(kind, sandbox).values())

    def get(self, kind: str, sandbox: str, resource_id: str) -> Resource | None:
        with self._lock:
            self._refresh()
            entry = self._entries(kind, sandbox).get(resource_id)
            return entry[1] if entry else None

    def put(self, kind: str, sandbox: str, resource: Resource) -> None:
        """Insert or replace; must run inside `transaction()`."""
        seq = int(
            self._db.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value"
            ).fetchone()[0]
        )
        self._db.execute(
            "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?)",
            (kind, sandbox, resource["id"], seq, json.dumps(resource)),
        )
        self._entries(kind, sandbox)[resource["id"]] = (seq, resource)

    def delete(self, kind: str, sandbox: str, resource_id: str) -> None:
        """Remove; must run inside `transaction()`."""
        self._db.execute(
            "DELETE FROM resources WHERE kind = ? AND sandbox = ? AND id = ?",
            (kind, sandbox, resource_id),
        )
        self._entries(kind, sandbox).pop(resource_id, None)

    def new_etag(self) -> str:
        """A quoted etag in the platform's shape; the last group carries the write time."""
        with self._lock:
            counter = int(
                self._db.execute(
                    "INSERT INTO meta VALUES ('etag', '1') ON CONFLICT(key) "
                    "DO UPDATE SET value = value + 1 RETURNING value"
                ).fetchone()[0]
            )
        return f'"{counter:08x}-0000-0200-0000-{int(time.time()):08x}0000"'

    def clear(self) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM resources")
            self._cache.clear()
