"""The outbox: events and alarms waiting for the broker, in the index's SQLite file.

Every message is written here before it is published and deleted only after the
broker's PUBACK, so a 4G outage or a restart in the middle loses nothing; delivery is
at least once, in order, and each message carries a unique ``id`` for consumers to
de-duplicate. The outbox is bounded: beyond ``max_messages`` / ``max_bytes`` the oldest
are dropped and counted (the count is reported in health).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.record.index import DB_NAME, write_transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- delivery order; never reused after a delete
    kind TEXT NOT NULL,  -- topic under the node: events or alarms
    payload BLOB NOT NULL,
    created_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
KINDS = ("events", "alarms")


@dataclass(frozen=True, slots=True)
class Message:
    row: int
    kind: str
    payload: bytes


class Outbox:
    def __init__(self, data_dir: Path, db: sqlite3.Connection | None = None) -> None:
        """``db``: share a connection (the index's), so an event is stored in the index and
        queued for the broker in one transaction."""
        self.db = db or sqlite3.connect(Path(data_dir) / DB_NAME, timeout=30,
                                        isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> Any:
        """Writes that stand or fall together (a state change and its event)."""
        return write_transaction(self.db)

    def put(self, kind: str, message: dict[str, Any], now: float) -> str:
        """Store ``message`` (a JSON object) with a fresh ``id`` and ``ts``; return the id."""
        if kind not in KINDS:
            raise ValueError(f"outbox kind {kind!r} is not one of {KINDS}")
        msg_id = uuid.uuid4().hex
        payload = json.dumps({"id": msg_id, "ts": now, **message}, ensure_ascii=False)
        self.db.execute("INSERT INTO outbox (kind, payload, created_ts) VALUES (?, ?, ?)",
                        (kind, payload.encode(), now))
        return msg_id

    def pending(self, after: int, limit: int) -> list[Message]:
        rows = self.db.execute("SELECT id, kind, payload FROM outbox WHERE id > ? ORDER BY id"
                               " LIMIT ?", (after, limit))
        return [Message(r[0], r[1], bytes(r[2])) for r in rows]

    def ack(self, rows: list[int]) -> None:
        self.db.executemany("DELETE FROM outbox WHERE id = ?", [(r,) for r in rows])

    def trim(self, max_messages: int, max_bytes: int) -> int:
        """Drop the oldest beyond the bounds; return how many were dropped."""
        count, size = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        if count <= max_messages and size <= max_bytes:
            return 0
        dropped = 0
        with self.transaction():
            for row, length in self.db.execute(
                    "SELECT id, LENGTH(payload) FROM outbox ORDER BY id").fetchall():
                if count <= max_messages and size <= max_bytes:
                    break
                self.db.execute("DELETE FROM outbox WHERE id = ?", (row,))
                count, size, dropped = count - 1, size - length, dropped + 1
            self.db.execute(
                "INSERT INTO counters (name, value) VALUES ('outbox_dropped', ?) ON CONFLICT(name)"
                " DO UPDATE SET value = value + excluded.value", (dropped,))
        return dropped

    def stats(self) -> dict[str, int]:
        count, size = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        return {"pending": count, "pending_bytes": size,
                "dropped_total": self._dropped()}

    def _dropped(self) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = 'outbox_dropped'"
                              ).fetchone()
        return int(row[0]) if row else 0
