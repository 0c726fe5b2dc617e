"""Camera availability history in the index's SQLite file, for the online rates.

The MQTT runner opens a watch session when it starts, extends it every cycle, and writes
each camera's state at the session's start and at every change; availability.py turns
that into online rates that leave out the time the node was not running.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.record.index import DB_NAME

SCHEMA = """
CREATE TABLE IF NOT EXISTS watch_sessions (
    id INTEGER PRIMARY KEY, start_ts REAL NOT NULL, end_ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS camera_changes (
    channel_id TEXT NOT NULL, ts REAL NOT NULL, online INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS camera_changes_channel_ts ON camera_changes(channel_id, ts);
"""
KEEP_S = 31 * 86_400.0  # the longest rate reported is 30 days


class History:
    def __init__(self, data_dir: Path, db: sqlite3.Connection | None = None) -> None:
        """``db``: share a connection (the outbox's), so a change and its event are
        written in one transaction."""
        self.db = db or sqlite3.connect(Path(data_dir) / DB_NAME, timeout=30,
                                        isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.executescript(SCHEMA)
        self.session: int | None = None

    def close(self) -> None:
        self.db.close()

    def begin(self, states: dict[str, bool], now: float) -> None:
        cur = self.db.execute("INSERT INTO watch_sessions (start_ts, end_ts) VALUES (?, ?)",
                              (now, now))
        self.session = cur.lastrowid
        self.record(states, now)

    def record(self, states: dict[str, bool], now: float) -> None:
        self.db.executemany("INSERT INTO camera_changes VALUES (?, ?, ?)",
                            [(ch, now, int(online)) for ch, online in states.items()])

    def touch(self, now: float) -> None:
        self.db.execute("UPDATE watch_sessions SET end_ts = ? WHERE id = ?", (now, self.session))

    def sessions(self, since: float) -> list[tuple[float, float]]:
        return self.db.execute("SELECT start_ts, end_ts FROM watch_sessions WHERE end_ts >= ?"
                               " ORDER BY start_ts", (since,)).fetchall()

    def changes(self, channel_id: str, since: float) -> list[tuple[float, bool]]:
        """State records from the start of the first session overlapping ``since``."""
        first = self.db.execute("SELECT MIN(start_ts) FROM watch_sessions WHERE end_ts >= ?",
                                (since,)).fetchone()[0]
        rows = self.db.execute("SELECT ts, online FROM camera_changes WHERE channel_id = ?"
                               " AND ts >= ? ORDER BY ts", (channel_id, first or since))
        return [(ts, bool(online)) for ts, online in rows]

    def trim(self, now: float) -> None:
        # the newest old record per camera stays: a long-running session still needs its
        # state as of the cut-off
        cutoff = now - KEEP_S
        self.db.execute(
            "DELETE FROM camera_changes WHERE ts < ? AND rowid NOT IN (SELECT MAX(rowid)"
            " FROM camera_changes WHERE ts < ? GROUP BY channel_id)", (cutoff, cutoff))
        self.db.execute("DELETE FROM watch_sessions WHERE end_ts < ?", (now - KEEP_S,))
