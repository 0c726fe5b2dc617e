"""The alerts' queue and log on disk (``data_dir/alerts.db``): what each receiver is to be
told, each attempt's answer, and the readers' cursors into the index's events. The runner
writes it; the events page reads the log."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

DB_NAME = "alerts.db"
KEEP_LOG_S = 90 * 86400.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY,
    receiver TEXT NOT NULL,
    created_ts REAL NOT NULL,
    alert TEXT NOT NULL,        -- JSON of formats.Alert without the picture
    picture TEXT,               -- data_dir-relative JPEG, read when sent
    state TEXT NOT NULL,        -- queued, sent, failed, quiet, folded
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ts REAL NOT NULL DEFAULT 0,
    result TEXT,
    sent_ts REAL
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (state, next_ts);
CREATE TABLE IF NOT EXISTS cursors (source TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
"""


class AlertStore:
    def __init__(self, data_dir: Path) -> None:
        self.db = sqlite3.connect(Path(data_dir) / DB_NAME, timeout=30, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def cursor(self, source: str) -> int | None:
        row = self.db.execute("SELECT last_id FROM cursors WHERE source = ?", (source,)).fetchone()
        return int(row[0]) if row else None

    def set_cursor(self, source: str, last_id: int) -> None:
        self.db.execute("INSERT INTO cursors VALUES (?, ?) ON CONFLICT(source) DO UPDATE SET "
                        "last_id = excluded.last_id", (source, last_id))

    def add(self, receiver: str, alert: dict[str, Any], picture: str | None, state: str,
            now: float) -> int:
        cur = self.db.execute(
            "INSERT INTO queue (receiver, created_ts, alert, picture, state) VALUES (?, ?, ?, ?, ?)",
            (receiver, now, json.dumps(alert, ensure_ascii=False), picture, state))
        return int(cur.lastrowid or 0)

    def due(self, now: float, limit: int = 20) -> list[tuple[int, str, float, dict[str, Any],
                                                             str | None, int]]:
        rows = self.db.execute(
            "SELECT id, receiver, created_ts, alert, picture, attempts FROM queue "
            "WHERE state = 'queued' AND next_ts <= ? ORDER BY id LIMIT ?", (now, limit))
        return [(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    def attempted(self, row_id: int, state: str, result: str, next_ts: float,
                  now: float) -> None:
        self.db.execute("UPDATE queue SET state = ?, attempts = attempts + 1, result = ?, "
                        "next_ts = ?, sent_ts = CASE WHEN ? = 'sent' THEN ? ELSE sent_ts END "
                        "WHERE id = ?", (state, result[:500], next_ts, state, now, row_id))

    def trim(self, now: float) -> None:
        self.db.execute("DELETE FROM queue WHERE created_ts < ? AND state != 'queued'",
                        (now - KEEP_LOG_S,))


def read_log(data_dir: Path, since: float, until: float, limit: int = 200
             ) -> list[dict[str, Any]]:
    """The log as the web UI reads it: read-only, nothing when no alert was ever made."""
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute(
            "SELECT id, receiver, created_ts, alert, state, attempts, result, sent_ts FROM queue "
            "WHERE created_ts >= ? AND created_ts < ? ORDER BY id DESC LIMIT ?",
            (since, until, limit)).fetchall()
    finally:
        db.close()
    return [_entry(r) for r in rows]


def _entry(r: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": r[0], "receiver": r[1], "created_ts": r[2], "alert": json.loads(r[3]),
            "state": r[4], "attempts": r[5], "result": r[6], "sent_ts": r[7]}
