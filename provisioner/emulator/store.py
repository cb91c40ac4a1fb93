"""Resource storage in SQLite: a file for the embedded emulator, or memory for tests.

One connection per store, guarded by a lock, so the threaded server is safe. Several
processes may share one file (WAL mode, busy timeout, immediate transactions). Decoded
resources are cached per process and dropped whenever another connection has committed
(`PRAGMA data_version`), so lists stay cheap without ever serving a stale object.

The file is its owner's only (0600, in a 0700 directory when the store makes it), is never
opened through a symbolic link, and holds a keyed digest of every secret auth parameter,
never its value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provisioner.emulator.specs import secret_params

MEMORY = ":memory:"
DIGEST_PREFIX = "hmac-sha256:"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, sandbox TEXT NOT NULL, id TEXT NOT NULL,
    seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, sandbox, id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sandbox_flags (
    sandbox TEXT NOT NULL, flag TEXT NOT NULL, PRIMARY KEY (sandbox, flag)
);
CREATE TABLE IF NOT EXISTS sandboxes (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS runs (
    sandbox TEXT NOT NULL, id TEXT NOT NULL, flow_id TEXT NOT NULL,
    seq INTEGER NOT NULL, body TEXT NOT NULL, records TEXT,
    PRIMARY KEY (sandbox, id)
);
CREATE INDEX IF NOT EXISTS runs_by_flow ON runs (flow_id, seq);
INSERT OR IGNORE INTO meta VALUES ('seq', '0');
INSERT OR IGNORE INTO meta VALUES ('clock-offset-ms', '0');
"""
_IGNORE_EVERYTHING = "# the local emulator's data: never commit it\n*\n"


class StoreFileError(OSError):
    """The data file cannot be used safely (a symbolic link, say)."""


Resource = dict[str, Any]
Entry = tuple[int, Resource]  # (write sequence number, resource)


class Store:
    def __init__(self, path: str | Path = MEMORY) -> None:
        self.path = str(path)
        if self.path != MEMORY:
            _prepare_private_file(Path(self.path))
        # SQLite gives its side files (-wal, -shm, -journal) the main file's mode; the umask
        # covers any it makes before it has looked at that mode.
        previous_umask = os.umask(0o077)
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._lock = threading.RLock()
            self._cache: dict[tuple[str, str], dict[str, Entry]] = {}
            # Each cached resource's JSON as stored: a list answers with it, not encoded anew.
            self._texts: dict[tuple[str, str], dict[str, str]] = {}
            self._seen_version = -1
            self._offset: int | None = None  # the clock's offset, as last read
            with self._lock:
                if self.path != MEMORY:
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                for key in ("signing-key", "secret-key"):
                    self._db.execute(
                        "INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, secrets.token_hex(32))
                    )
        finally:
            os.umask(previous_umask)
        self.signing_key = bytes.fromhex(self._meta("signing-key"))
        self._secret_key = bytes.fromhex(self._meta("secret-key"))
        self._held: dict[str, str] | None = None  # digest -> secret, when held (memory only)

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
                self._forget()
                raise
            self._db.execute("COMMIT")
            self._seen_version = self._data_version()

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _refresh(self) -> None:
        version = self._data_version()
        if version != self._seen_version:
            self._forget()
            self._seen_version = version

    def _forget(self) -> None:
        self._cache.clear()
        self._texts.clear()
        self._offset = None

    def _entries(self, kind: str, sandbox: str) -> dict[str, Entry]:
        key = (kind, sandbox)
        if key not in self._cache:
            rows = self._db.execute(
                "SELECT id, seq, body FROM resources WHERE kind = ? AND sandbox = ?", key
            ).fetchall()
            self._cache[key] = {rid: (seq, json.loads(body)) for rid, seq, body in rows}
            self._texts[key] = {rid: body for rid, _, body in rows}
        return self._cache[key]

    def entries(self, kind: str, sandbox: str) -> list[Entry]:
        """Every resource of a kind in a sandbox. Callers must not mutate them."""
        with self._lock:
            self._refresh()
            return list(self._entries(kind, sandbox).values())

    def listing(self, kind: str, sandbox: str) -> tuple[list[Entry], dict[str, str]]:
        """Every resource of a kind in a sandbox, and the JSON each is stored as (by id),
        taken together. Callers must not mutate them."""
        with self._lock:
            self._refresh()
            entries = list(self._entries(kind, sandbox).values())
            return entries, dict(self._texts[(kind, sandbox)])

    def get(self, kind: str, sandbox: str, resource_id: str) -> Resource | None:
        with self._lock:
            self._refresh()
            entry = self._entries(kind, sandbox).get(resource_id)
            return entry[1] if entry else None

    def put(self, kind: str, sandbox: str, resource: Resource) -> None:
        """Insert or replace; must run inside `transaction()`. Secret auth parameters are
        replaced by their digest first, whichever way the write came."""
        resource = self._without_secret_values(kind, resource)
        seq = self._next_seq()
        text = json.dumps(resource)
        self._db.execute(
            "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?)",
            (kind, sandbox, resource["id"], seq, text),
        )
        self._entries(kind, sandbox)[resource["id"]] = (seq, resource)
        self._texts[(kind, sandbox)][resource["id"]] = text

    def _next_seq(self) -> int:
        return int(
            self._db.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value"
            ).fetchone()[0]
        )

    def delete(self, kind: str, sandbox: str, resource_id: str) -> None:
        """Remove; must run inside `transaction()`."""
        self._db.execute(
            "DELETE FROM resources WHERE kind = ? AND sandbox = ? AND id = ?",
            (kind, sandbox, resource_id),
        )
        self._entries(kind, sandbox).pop(resource_id, None)
        self._texts[(kind, sandbox)].pop(resource_id, None)

    def new_etag(self) -> str:
        """A quoted etag in the platform's shape; the last group carries the write time."""
        with self._lock:
            counter = int(
                self._db.execute(
                    "INSERT INTO meta VALUES ('etag', '1') ON CONFLICT(key) "
                    "DO UPDATE SET value = value + 1 RETURNING value"
                ).fetchone()[0]
            )
        return f'"{counter:08x}-0000-0200-0000-{self.now_ms() // 1000:08x}0000"'

    def clear(self) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM resources")
            self._db.execute("DELETE FROM runs")
            self._db.execute("DELETE FROM sandbox_flags")
            self._forget()

    # the clock -----------------------------------------------------------------------

    def now_ms(self) -> int:
        """The emulator's now, epoch ms: real time plus the offset `advance` has added.
        Kept in the data, so the embedded emulator's clock holds between runs of the CLI."""
        return int(time.time() * 1000) + self.clock_offset_ms()

    def clock_offset_ms(self) -> int:
        with self._lock:
            self._refresh()
            if self._offset is None:
                self._offset = int(self._meta("clock-offset-ms"))
            return self._offset

    def shift_clock(self, milliseconds: int) -> None:
        """Move the clock on; must run inside `transaction()`."""
        row = self._db.execute(
            "UPDATE meta SET value = value + ? WHERE key = 'clock-offset-ms' RETURNING value",
            (milliseconds,),
        ).fetchone()
        self._offset = int(row[0])

    # settings kept as JSON (run faults) ----------------------------------------------

    def setting(self, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_setting(self, key: str, value: Any) -> None:
        """Must run inside `transaction()`."""
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # dataflow runs and the records they exported -------------------------------------

    def put_run(
        self, sandbox: str, run: Resource, records: str | None, keep: int, keep_records: int
    ) -> None:
        """Record a run (and the records it exported, as JSON); only the newest `keep` runs
        of its dataflow are kept, and the records of the newest `keep_records`. Must run
        inside `transaction()`."""
        flow_id = run["flowId"]
        self._db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
            (sandbox, run["id"], flow_id, self._next_seq(), json.dumps(run), records),
        )
        newest = "SELECT seq FROM runs WHERE flow_id = ? ORDER BY seq DESC LIMIT ?"
        self._db.execute(
            f"DELETE FROM runs WHERE flow_id = ? AND seq NOT IN ({newest})",
            (flow_id, flow_id, keep),
        )
        self._db.execute(
            f"UPDATE runs SET records = NULL WHERE flow_id = ? AND records IS NOT NULL "
            f"AND seq NOT IN ({newest})",
            (flow_id, flow_id, keep_records),
        )

    def runs(
        self, sandbox: str, flow_ids: frozenset[str] | None = None, run_id: str | None = None
    ) -> list[Entry]:
        """The runs of a sandbox; of the dataflows `flow_ids` in it; the one named `run_id`."""
        query = "SELECT seq, body FROM runs WHERE sandbox = ?"
        params: list[str] = [sandbox]
        if flow_ids is not None:
            query += f" AND flow_id IN ({','.join('?' * len(flow_ids))})"
            params += sorted(flow_ids)
        if run_id is not None:
            query += " AND id = ?"
            params.append(run_id)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [(int(seq), json.loads(body)) for seq, body in rows]

    def run_records(self, flow_id: str, run_id: str | None) -> tuple[Resource, Any] | None:
        """A run of a dataflow (its newest without `run_id`) and its records as kept (None
        once they are no longer kept)."""
        query = "SELECT body, records FROM runs WHERE flow_id = ?"
        params = [flow_id]
        if run_id is not None:
            query += " AND id = ?"
            params.append(run_id)
        with self._lock:
            row = self._db.execute(query + " ORDER BY seq DESC LIMIT 1", params).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), (json.loads(row[1]) if row[1] is not None else None)

    # sandboxes -----------------------------------------------------------------------

    def add_sandbox(self, name: str) -> None:
        """Record that a sandbox exists. Sandboxes outlive `clear()`: it empties them."""
        with self.transaction():
            self.record_sandbox(name)

    def record_sandbox(self, name: str) -> None:
        """`add_sandbox` inside a `transaction()` of the caller's."""
        self._db.execute("INSERT OR IGNORE INTO sandboxes VALUES (?)", (name,))

    def sandbox_names(self) -> set[str]:
        """The sandboxes recorded, and those that hold anything (objects, audiences, flags)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM sandboxes UNION SELECT sandbox FROM resources "
                "UNION SELECT sandbox FROM sandbox_flags"
            ).fetchall()
        return {str(row[0]) for row in rows}

    def has_sandbox(self, name: str) -> bool:
        """Whether a sandbox is recorded or holds anything."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM sandboxes WHERE name = ? UNION ALL "
                "SELECT 1 FROM resources WHERE sandbox = ? UNION ALL "
                "SELECT 1 FROM sandbox_flags WHERE sandbox = ? LIMIT 1",
                (name, name, name),
            ).fetchone()
        return row is not None

    # per-sandbox flags ---------------------------------------------------------------

    def has_flag(self, sandbox: str, flag: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM sandbox_flags WHERE sandbox = ? AND flag = ?", (sandbox, flag)
            ).fetchone()
        return row is not None

    def set_flag(self, sandbox: str, flag: str, on: bool) -> None:
        """Raise or lower a flag; must run inside `transaction()`."""
        if on:
            self._db.execute("INSERT OR IGNORE INTO sandbox_flags VALUES (?, ?)", (sandbox, flag))
        else:
            self._db.execute(
                "DELETE FROM sandbox_flags WHERE sandbox = ? AND flag = ?", (sandbox, flag)
            )

    # secrets -------------------------------------------------------------------------

    def secret_digest(self, value: str) -> str:
        """What the store keeps instead of a secret value: keyed, so equal secrets in two
        emulator files do not give equal digests."""
        mac = hmac.new(self._secret_key, value.encode(), hashlib.sha256).hexdigest()
        return DIGEST_PREFIX + mac

    def hold_secrets(self) -> None:
        """From now on, keep each secret value written in this process's memory, by its
        digest: an emulator that delivers runs needs the keys to sign with. The data file
        still holds digests alone, so a secret never outlives the process."""
        with self._lock:
            if self._held is None:
                self._held = {}

    def held_secret(self, digest: str) -> str | None:
        """The secret whose digest this is, when it was written since `hold_secrets`."""
        return None if self._held is None else self._held.get(digest)

    def _without_secret_values(self, kind: str, resource: Resource) -> Resource:
        if kind != "connections" or not isinstance(resource.get("auth"), dict):
            return resource
        params = resource["auth"].get("params")
        spec = resource.get("connectionSpec")
        if not isinstance(params, dict) or not isinstance(spec, dict):
            return resource
        hidden = secret_params(str(spec.get("id", ""))) & params.keys()
        if not any(_is_plain(params[key]) for key in hidden):
            return resource
        digested = {
            key: self._digested(value) if key in hidden and _is_plain(value) else value
            for key, value in params.items()
        }
        return {**resource, "auth": {**resource["auth"], "params": digested}}

    def _digested(self, value: str) -> str:
        digest = self.secret_digest(value)
        if self._held is not None:
            self._held[digest] = value
        return digest


def _is_plain(value: Any) -> bool:
    """A secret value still in the clear (a digest a patch left untouched is not)."""
    return isinstance(value, str) and not value.startswith(DIGEST_PREFIX)


def _prepare_private_file(path: Path) -> None:
    """Make `path` an owner-only regular file (its directory 0700 when made here), refusing
    a symbolic link: a link planted there would send the data, tokens' key included,
    wherever it points."""
    if path.is_symlink():
        raise StoreFileError(
            f"refusing to open the emulator's data file {path}: it is a symbolic link"
        )
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode is cut by the umask
        if directory.name == ".provisioner":
            (directory / ".gitignore").write_text(_IGNORE_EVERYTHING)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as error:
        raise StoreFileError(
            f"cannot open the emulator's data file {path}: {error.strerror}"
        ) from None
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
