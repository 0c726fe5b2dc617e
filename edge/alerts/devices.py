"""The browsers and phones that asked for alerts by Web Push, kept in edge.db beside the
web accounts that own them (the web UI adds and removes them, the alert runner sends to
them and forgets those their push service calls gone). Only enabled users' devices are
listed, each with what its user may see."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from edge.alerts.webpush import Device

SCHEMA = """
CREATE TABLE IF NOT EXISTS push_devices (
    endpoint TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    created_ts REAL NOT NULL,
    result TEXT NOT NULL DEFAULT ''  -- the push service's last answer
);
"""


@dataclass(frozen=True)
class Subscribed:
    """A device that asked for alerts, as its user's page lists it."""

    device: Device  # device.user: its user's name
    cameras: tuple[str, ...] | None  # what its user may see; None: every camera
    result: str  # the push service's last answer
    since: float
    agent: str  # the browser that subscribed

    def sees(self, channel: str) -> bool:
        return self.cameras is None or channel in self.cameras


class PushDevices:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @staticmethod
    def create_schema(db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)

    def add(self, user_id: int, device: Device, agent: str, now: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO push_devices (endpoint, user_id, p256dh, auth,"
                        " agent, created_ts) VALUES (?, ?, ?, ?, ?, ?)",
                        (device.endpoint, user_id, device.p256dh, device.auth, agent[:200], now))

    def remove(self, endpoint: str, user_id: int | None = None) -> bool:
        """A device gone (the push service said so) or turned off by its user."""
        if user_id is None:
            return bool(self.db.execute("DELETE FROM push_devices WHERE endpoint = ?",
                                        (endpoint,)).rowcount)
        return bool(self.db.execute("DELETE FROM push_devices WHERE endpoint = ? AND"
                                    " user_id = ?", (endpoint, user_id)).rowcount)

    def listed(self, user_id: int | None = None) -> list[Subscribed]:
        """The devices of enabled users (of one user)."""
        rows = self.db.execute(
            "SELECT d.endpoint, d.p256dh, d.auth, u.name, u.cameras, d.result, d.created_ts,"
            " d.agent FROM push_devices d JOIN users u ON u.id = d.user_id"
            " WHERE u.disabled = 0 AND (? IS NULL OR u.id = ?) ORDER BY d.created_ts",
            (user_id, user_id)).fetchall()
        return [Subscribed(Device(endpoint, p256dh, auth, name),
                           None if cameras is None else tuple(json.loads(cameras)),
                           result, since, agent)
                for endpoint, p256dh, auth, name, cameras, result, since, agent in rows]

    def answered(self, endpoint: str, result: str) -> None:
        self.db.execute("UPDATE push_devices SET result = ? WHERE endpoint = ?",
                        (result[:200], endpoint))
