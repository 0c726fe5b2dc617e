"""The SQLite index of segments, locks, alarms, events and the audit log.

One ``Index`` per thread (sqlite3 connections are not shared). WAL with
``synchronous=NORMAL``: a power cut may lose the last transactions but never
corrupts the file, and start-up reconciliation repairs what was lost.
Times are UTC epoch seconds; segment paths are stored relative to the data dir.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from edge.record.coverage import GAP_TOLERANCE_S, merge_ranges

DB_NAME = "edge.db"
MAX_SEGMENT_S = 86_400.0  # no segment is longer: bounds range scans on the start_ts index
SCHEMA_VERSION = 3  # 2: the coverage table; 3: acknowledgements of events and alarms
SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    path TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    video_codec TEXT,
    audio_codec TEXT,
    width INTEGER,
    height INTEGER
);
CREATE INDEX IF NOT EXISTS segments_channel_start ON segments(channel_id, start_ts);
-- contiguous recorded ranges per channel, kept by the segment methods below: a record
-- search over 90 days reads a few hundred of these instead of 130,000 segment rows
CREATE TABLE IF NOT EXISTS coverage (
    channel_id TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS coverage_channel_start ON coverage(channel_id, start_ts);
CREATE INDEX IF NOT EXISTS segments_start ON segments(start_ts);
CREATE TABLE IF NOT EXISTS locks (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    raised_ts REAL NOT NULL,
    updated_ts REAL NOT NULL,
    cleared_ts REAL
);
CREATE INDEX IF NOT EXISTS alarms_open ON alarms(channel_id, kind, cleared_ts);
-- event pictures and structured data (filled by detection); kept 365 days
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    snapshot_path TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS events_channel_ts ON events(channel_id, ts);
-- persistent cursors and counters (alarm events seen, outbox messages dropped)
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
"""


NODE = "node"  # the channel_id of node-wide events and alarms (disk, data budget, 4G signal)

@dataclass(frozen=True)
class Segment:
    id: int
    channel_id: str
    start_ts: float
    end_ts: float
    path: str
    bytes: int
    complete: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Lock:
    id: int
    channel_id: str
    start_ts: float
    end_ts: float
    reason: str


@dataclass(frozen=True)
class Alarm:
    id: int
    channel_id: str
    kind: str
    message: str
    raised_ts: float
    cleared_ts: float | None
    acked_ts: float | None = None
    acked_by: str | None = None


@dataclass(frozen=True)
class Event:
    id: int
    channel_id: str  # a camera, or a platform for its registration events
    ts: float
    kind: str
    data: dict[str, object]
    snapshot_path: str | None
    acked_ts: float | None
    acked_by: str | None


_SEGMENT_COLS = (
    "id, channel_id, start_ts, end_ts, path, bytes, complete, video_codec, audio_codec, width, height"
)


class Index:
    def __init__(self, data_dir: Path, *, readonly: bool = False, schema: bool = True) -> None:
        """``schema=False``: the schema is known to be current (the supervisor made it at
        start), so a short-lived connection (a web request) takes no write lock to open."""
        self.data_dir = Path(data_dir)
        if not readonly:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.data_dir / DB_NAME, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 30000")
        if readonly:
            self.db.execute("PRAGMA query_only = ON")
            return
        if not schema:
            return
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        self.db.executescript(SCHEMA)
        if version < 2:  # an index from before the coverage table: build it once
            with self.transaction():
                for channel in self.channel_ids():
                    self._rebuild_coverage(channel, 0.0, float("inf"))
        for table in ("events", "alarms"):  # schema 3: who acknowledged it, and when
            columns = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            for column, kind in (("acked_ts", "REAL"), ("acked_by", "TEXT")):
                if column not in columns:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    # -- segments ---------------------------------------------------------------

    def add_segment(
        self, channel_id: str, start_ts: float, path: Path, *, video_codec: str | None,
        audio_codec: str | None, width: int | None, height: int | None,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO segments (channel_id, start_ts, end_ts, path, video_codec, audio_codec,"
            " width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (channel_id, start_ts, start_ts, self.relative(path), video_codec, audio_codec,
             width, height),
        )
        return int(cur.lastrowid or 0)

    def update_segment(self, seg_id: int, end_ts: float, size: int, complete: bool) -> None:
        with self.transaction():
            row = self.db.execute("SELECT channel_id, start_ts, end_ts FROM segments WHERE id = ?",
                                  (seg_id,)).fetchone()
            self.db.execute(
                "UPDATE segments SET end_ts = ?, bytes = ?, complete = ? WHERE id = ?",
                (end_ts, size, int(complete), seg_id),
            )
            if row is None:
                return
            channel, start_ts, old_end = row
            if end_ts >= old_end:
                self._extend_coverage(channel, start_ts, end_ts)
            else:  # cut back (a repaired file): the range may shrink or split
                self._rebuild_coverage(channel, start_ts, old_end)

    def delete_segments(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        with self.transaction():
            spans: dict[str, tuple[float, float]] = {}
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for channel, lo, hi in self.db.execute(
                        f"SELECT channel_id, MIN(start_ts), MAX(end_ts) FROM segments"
                        f" WHERE id IN ({marks}) GROUP BY channel_id", chunk):
                    old = spans.get(channel, (lo, hi))
                    spans[channel] = (min(old[0], lo), max(old[1], hi))
                self.db.execute(f"DELETE FROM segments WHERE id IN ({marks})", chunk)
            for channel, (lo, hi) in spans.items():
                self._rebuild_coverage(channel, lo, hi)

    def recorded_ranges(self, channel_id: str, start: float,
                        end: float) -> list[tuple[float, float]]:
        """A channel's contiguous recorded ranges overlapping [start, end], oldest first
        (not clipped): what coverage.merge_ranges would make of its segments."""
        return self.db.execute(
            "SELECT start_ts, end_ts FROM coverage WHERE channel_id = ? AND start_ts <= ?"
            " AND end_ts >= ? ORDER BY start_ts", (channel_id, end, start)).fetchall()

    # coverage rows are kept merged: a span joins a range it touches within the tolerance

    def _touching(self, channel: str, lo: float, hi: float) -> list[tuple[int, float, float]]:
        return self.db.execute(
            "SELECT rowid, start_ts, end_ts FROM coverage WHERE channel_id = ? AND start_ts <= ?"
            " AND end_ts >= ?", (channel, hi + GAP_TOLERANCE_S, lo - GAP_TOLERANCE_S)).fetchall()

    def _extend_coverage(self, channel: str, start: float, end: float) -> None:
        rows = self._touching(channel, start, end)
        if len(rows) == 1 and rows[0][1] <= start and rows[0][2] >= end:
            return  # already covered: the usual case while a segment grows
        lo = min([start] + [r[1] for r in rows])
        hi = max([end] + [r[2] for r in rows])
        self.db.executemany("DELETE FROM coverage WHERE rowid = ?", [(r[0],) for r in rows])
        self.db.execute("INSERT INTO coverage VALUES (?, ?, ?)", (channel, lo, hi))

    def _rebuild_coverage(self, channel: str, lo: float, hi: float) -> None:
        """Recompute the ranges touching [lo, hi] from the segments they hold."""
        rows = self._touching(channel, lo, hi)
        lo = min([lo] + [r[1] for r in rows])
        hi = max([hi] + [r[2] for r in rows])
        self.db.executemany("DELETE FROM coverage WHERE rowid = ?", [(r[0],) for r in rows])
        spans = self.db.execute(
            "SELECT start_ts, end_ts FROM segments WHERE channel_id = ? AND start_ts <= ?"
            " AND start_ts >= ? AND end_ts >= ?",
            (channel, min(hi, 1e18), lo - MAX_SEGMENT_S, lo)).fetchall()
        self.db.executemany("INSERT INTO coverage VALUES (?, ?, ?)",
                            [(channel, r.start, r.end) for r in merge_ranges(spans)])

    def transaction(self) -> Any:
        return write_transaction(self.db)

    def segments(
        self, channel_id: str | None = None, start: float = 0.0, end: float = float("inf"),
        *, incomplete_only: bool = False,
    ) -> list[Segment]:
        """Segments overlapping [start, end], oldest first."""
        sql = f"SELECT {_SEGMENT_COLS} FROM segments WHERE end_ts >= ? AND start_ts <= ?"
        args: list[object] = [start, min(end, 1e18)]
        if channel_id is not None:
            sql += " AND channel_id = ?"
            args.append(channel_id)
        if incomplete_only:
            sql += " AND complete = 0"
        return [_segment(r) for r in self.db.execute(sql + " ORDER BY start_ts", args)]

    def oldest_segments(self, channel_id: str, limit: int) -> list[Segment]:
        rows = self.db.execute(
            f"SELECT {_SEGMENT_COLS} FROM segments WHERE channel_id = ? AND complete = 1"
            " ORDER BY start_ts LIMIT ?", (channel_id, limit),
        )
        return [_segment(r) for r in rows]

    def segments_ending_before(self, channel_id: str, ts: float, limit: int) -> list[Segment]:
        rows = self.db.execute(
            f"SELECT {_SEGMENT_COLS} FROM segments WHERE channel_id = ? AND end_ts < ?"
            " AND complete = 1 ORDER BY start_ts LIMIT ?", (channel_id, ts, limit),
        )
        return [_segment(r) for r in rows]

    def channel_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT channel_id FROM segments")]

    def summary(self, channel_id: str) -> tuple[float | None, float | None, int, int]:
        """(oldest start, newest end, total bytes, segment count)."""
        row = self.db.execute(
            "SELECT MIN(start_ts), MAX(end_ts), COALESCE(SUM(bytes), 0), COUNT(*)"
            " FROM segments WHERE channel_id = ?", (channel_id,),
        ).fetchone()
        return row[0], row[1], int(row[2]), int(row[3])

    def oldest(self, channel_id: str) -> float | None:
        """Start of the channel's oldest footage (from the coverage table: cheap)."""
        row = self.db.execute("SELECT MIN(start_ts) FROM coverage WHERE channel_id = ?",
                              (channel_id,)).fetchone()
        return row[0] if row else None

    def byte_rate(self, channel_id: str, since: float) -> float | None:
        """Measured bytes per second of footage since ``since``, or None without data."""
        row = self.db.execute(
            "SELECT SUM(bytes), SUM(end_ts - start_ts) FROM segments"
            " WHERE channel_id = ? AND start_ts >= ? AND complete = 1", (channel_id, since),
        ).fetchone()
        if not row[0] or not row[1] or row[1] <= 0:
            return None
        return float(row[0]) / float(row[1])

    def known_paths(self, channel_id: str) -> set[str]:
        rows = self.db.execute("SELECT path FROM segments WHERE channel_id = ?", (channel_id,))
        return {r[0] for r in rows}

    def relative(self, path: Path) -> str:
        return str(Path(path).relative_to(self.data_dir))

    def absolute(self, segment: Segment) -> Path:
        return self.data_dir / segment.path

    # -- locks (evidence) -------------------------------------------------------

    def add_lock(self, channel_id: str, start_ts: float, end_ts: float, reason: str) -> int:
        cur = self.db.execute(
            "INSERT INTO locks (channel_id, start_ts, end_ts, reason, created_ts)"
            " VALUES (?, ?, ?, ?, ?)", (channel_id, start_ts, end_ts, reason, time.time()),
        )
        return int(cur.lastrowid or 0)

    def end_lock(self, lock_id: int, end_ts: float) -> None:
        """Shorten an open-ended lock (a manual recording that was stopped)."""
        self.db.execute("UPDATE locks SET end_ts = MIN(end_ts, ?) WHERE id = ?", (end_ts, lock_id))

    def remove_lock(self, lock_id: int) -> bool:
        return self.db.execute("DELETE FROM locks WHERE id = ?", (lock_id,)).rowcount > 0

    def locks(self, channel_id: str | None = None) -> list[Lock]:
        sql = "SELECT id, channel_id, start_ts, end_ts, reason FROM locks"
        rows = (self.db.execute(sql + " WHERE channel_id = ?", (channel_id,))
                if channel_id else self.db.execute(sql))
        return [Lock(*r) for r in rows]

    # -- alarms -----------------------------------------------------------------

    def raise_alarm(self, channel_id: str, kind: str, message: str, now: float) -> None:
        """Open the alarm, or refresh the message of the one already open."""
        updated = self.db.execute(
            "UPDATE alarms SET message = ?, updated_ts = ? WHERE channel_id = ? AND kind = ?"
            " AND cleared_ts IS NULL", (message, now, channel_id, kind),
        ).rowcount
        if not updated:
            self.db.execute(
                "INSERT INTO alarms (channel_id, kind, message, raised_ts, updated_ts)"
                " VALUES (?, ?, ?, ?, ?)", (channel_id, kind, message, now, now),
            )

    def clear_alarm(self, channel_id: str, kind: str, now: float) -> None:
        self.db.execute(
            "UPDATE alarms SET cleared_ts = ? WHERE channel_id = ? AND kind = ?"
            " AND cleared_ts IS NULL", (now, channel_id, kind),
        )

    def alarms(self, *, open_only: bool = True) -> list[Alarm]:
        sql = ("SELECT id, channel_id, kind, message, raised_ts, cleared_ts, acked_ts, acked_by"
               " FROM alarms")
        if open_only:
            sql += " WHERE cleared_ts IS NULL"
        return [Alarm(*r) for r in self.db.execute(sql + " ORDER BY id")]

    def fault_periods(self, channel_id: str, since: float) -> list[tuple[float, float | None]]:
        """(raised, cleared or None) of the camera's picture faults (quality diagnosis)."""
        rows = self.db.execute(
            "SELECT raised_ts, cleared_ts FROM alarms WHERE channel_id = ? AND kind LIKE"
            " 'quality\\_%' ESCAPE '\\' AND (cleared_ts IS NULL OR cleared_ts >= ?)",
            (channel_id, since))
        return [(r[0], r[1]) for r in rows]

    def ack_alarm(self, alarm_id: int, by: str, now: float) -> bool:
        return self.db.execute("UPDATE alarms SET acked_ts = ?, acked_by = ? WHERE id = ?"
                               " AND acked_ts IS NULL", (now, by, alarm_id)).rowcount > 0

    # -- events and audit ---------------------------------------------------------

    def add_event(self, channel_id: str, ts: float, kind: str, data: dict[str, object],
                  snapshot_path: str | None = None) -> int:
        cur = self.db.execute(
            "INSERT INTO events (channel_id, ts, kind, data, snapshot_path) VALUES (?, ?, ?, ?, ?)",
            (channel_id, ts, kind, json.dumps(data, ensure_ascii=False), snapshot_path))
        return int(cur.lastrowid or 0)

    def event(self, event_id: int) -> Event | None:
        r = self.db.execute("SELECT id, channel_id, ts, kind, data, snapshot_path, acked_ts,"
                            " acked_by FROM events WHERE id = ?", (event_id,)).fetchone()
        return Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7]) if r else None

    def events_after(self, event_id: int, kinds: Iterable[str], limit: int = 100) -> list[Event]:
        """Events of ``kinds`` newer than ``event_id``, oldest first (a reader's cursor)."""
        kinds = list(kinds)
        rows = self.db.execute(
            "SELECT id, channel_id, ts, kind, data, snapshot_path, acked_ts, acked_by FROM events"
            f" WHERE id > ? AND kind IN ({','.join('?' * len(kinds))}) ORDER BY id LIMIT ?",
            (event_id, *kinds, limit))
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7]) for r in rows]

    def last_ids(self) -> tuple[int, int]:
        """The newest event and alarm ids (0 when none)."""
        event = self.db.execute("SELECT MAX(id) FROM events").fetchone()[0]
        alarm = self.db.execute("SELECT MAX(id) FROM alarms").fetchone()[0]
        return int(event or 0), int(alarm or 0)

    def update_event(self, event_id: int, data: dict[str, object]) -> None:
        self.db.execute("UPDATE events SET data = ? WHERE id = ?",
                        (json.dumps(data, ensure_ascii=False), event_id))

    def events(self, start: float, end: float, channels: Iterable[str] | None = None,
               kinds: Iterable[str] | None = None, unacked_only: bool = False,
               limit: int = 500, before_id: int | None = None) -> list[Event]:
        """Newest first, within [start, end]."""
        sql = ("SELECT id, channel_id, ts, kind, data, snapshot_path, acked_ts, acked_by"
               " FROM events WHERE ts >= ? AND ts <= ?")
        args: list[object] = [start, end]
        for column, values in (("channel_id", channels), ("kind", kinds)):
            if values is not None:
                values = list(values)
                sql += f" AND {column} IN ({','.join('?' * len(values))})"
                args += values
        if unacked_only:
            sql += " AND acked_ts IS NULL"
        if before_id is not None:
            sql += " AND id < ?"
            args.append(before_id)
        rows = self.db.execute(sql + " ORDER BY ts DESC, id DESC LIMIT ?", [*args, limit])
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7]) for r in rows]

    def crossings(self, start: float, end: float, channels: Iterable[str] | None = None
                  ) -> list[tuple[str, str, str, str, float]]:
        """(channel, tripwire, direction, label, ts) of the lines crossed in [start, end),
        armed or not (a count is of everyone who came through)."""
        sql = ("SELECT channel_id, json_extract(data, '$.rule'), json_extract(data, "
               "'$.direction'), json_extract(data, '$.label'), ts FROM events"
               " WHERE kind = 'tripwire' AND ts >= ? AND ts < ?")
        args: list[object] = [start, end]
        if channels is not None:
            channels = list(channels)
            sql += f" AND channel_id IN ({','.join('?' * len(channels))})"
            args += channels
        return [(r[0], str(r[1]), str(r[2]), str(r[3]), r[4])
                for r in self.db.execute(sql + " ORDER BY ts", args)]

    def ack_event(self, event_id: int, by: str, now: float) -> bool:
        return self.db.execute("UPDATE events SET acked_ts = ?, acked_by = ? WHERE id = ?"
                               " AND acked_ts IS NULL", (now, by, event_id)).rowcount > 0

    def delete_events_before(self, ts: float) -> list[str]:
        """Delete old events; return their snapshot paths (relative) for unlinking."""
        rows = self.db.execute(
            "SELECT snapshot_path FROM events WHERE ts < ? AND snapshot_path IS NOT NULL", (ts,)
        ).fetchall()
        self.db.execute("DELETE FROM events WHERE ts < ?", (ts,))
        return [r[0] for r in rows]

    def counter(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_counter(self, name: str, value: int) -> None:
        self.db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name)"
                        " DO UPDATE SET value = excluded.value", (name, value))

    def audit(self, actor: str, action: str, **detail: object) -> None:
        self.db.execute(
            "INSERT INTO audit (ts, actor, action, detail) VALUES (?, ?, ?, ?)",
            (time.time(), actor, action, json.dumps(detail, ensure_ascii=False)),
        )

    def audit_log(self, start: float = 0.0, end: float = float("inf"), actor: str | None = None,
                  action: str | None = None, limit: int = 1_000_000
                  ) -> list[tuple[float, str, str, dict[str, object]]]:
        """Oldest first (the CLI, the CSV export); filtered like the web page's search."""
        sql = "SELECT ts, actor, action, detail FROM audit WHERE ts >= ? AND ts <= ?"
        args: list[object] = [start, min(end, 1e18)]
        for column, value in (("actor", actor), ("action", action)):
            if value:
                sql += f" AND {column} = ?"
                args.append(value)
        rows = self.db.execute(sql + " ORDER BY id LIMIT ?", [*args, limit])
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on a connection in autocommit mode (nested: the outer one)."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _segment(row: tuple[object, ...]) -> Segment:
    values = list(row)
    values[6] = bool(values[6])
    return Segment(*values)  # type: ignore[arg-type]
