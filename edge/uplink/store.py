"""Bytes per local day and purpose, kept in the index's SQLite file (a year of rows is
~1,500: nothing to trim before retention's own year)."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS uplink_bytes (
    day TEXT NOT NULL,  -- the node's local date, YYYY-MM-DD
    purpose TEXT NOT NULL,  -- sip, mqtt, media, other
    sent INTEGER NOT NULL DEFAULT 0,
    received INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, purpose)
);
"""


class ByteStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.db.executescript(SCHEMA)

    def add(self, day: str, counts: dict[str, tuple[int, int]]) -> None:
        self.db.executemany(
            "INSERT INTO uplink_bytes (day, purpose, sent, received) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(day, purpose) DO UPDATE SET sent = sent + excluded.sent,"
            " received = received + excluded.received",
            [(day, p, s, r) for p, (s, r) in counts.items() if s or r])

    def totals(self, first_day: str, end_day: str) -> dict[str, tuple[int, int]]:
        """(sent, received) per purpose over ``first_day <= day < end_day``."""
        rows = self.db.execute(
            "SELECT purpose, SUM(sent), SUM(received) FROM uplink_bytes WHERE day >= ? AND"
            " day < ? GROUP BY purpose", (first_day, end_day))
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def days(self, first_day: str) -> list[tuple[str, str, int, int]]:
        return [(r[0], r[1], int(r[2]), int(r[3])) for r in self.db.execute(
            "SELECT day, purpose, sent, received FROM uplink_bytes WHERE day >= ?"
            " ORDER BY day, purpose", (first_day,))]
