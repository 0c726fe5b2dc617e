"""Runner: the node's own events, seen from the supervisor's live state.

Every half second it compares what the recorder and the SIP runner report with what it
saw last: a camera going offline or online, a platform registering or not, an alarm
raised or cleared in the index, the disk crossing its watermark. Each change is written
at once and in one transaction: the availability history (for the online rates), an
event row (kept 365 days, listed by the web UI), and — when MQTT is configured — a
message in the outbox. So a SIGKILL between them never leaves one without the other, and
a full disk delays an event (it is tried again next turn) but never loses it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any, Callable

from edge import faults
from edge.config import EdgeConfig
from edge.health.disk import ALARM_DISK_FAILING, ALARM_DISK_WARNING, disk_alarm_text
from edge.health.disk import read as read_disk_health
from edge.health.history import History
from edge.health.system import disk_facts
from edge.mqtt.outbox import Outbox
from edge.record.index import NODE, Index
from edge.runner import Runner

logger = logging.getLogger(__name__)

TURN_S = 0.5
HOUSEKEEPING_S = 2.0  # alarms, the watch session, the outbox bound: not every turn
DISK_CHECK_S = 10.0


class Observer(Runner):
    stale_after_s = 30.0

    def __init__(self, cfg: EdgeConfig, stop: threading.Event,
                 status: Callable[[], dict[str, Any]],
                 on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__("observer", stop)
        self.cfg = cfg
        self.status = status
        self.on_change = on_change  # e.g. health at once over MQTT
        self.index: Index | None = None
        self.history: History | None = None
        self.outbox: Outbox | None = None
        self._cameras: dict[str, bool] | None = None
        self._platforms: dict[str, bool] = {}
        self._speakers: dict[str, str | None] = {}  # who holds each loudspeaker
        self._disk_low: bool | None = None
        self._disk_state: str | None = None
        self._housekeeping_at = self._disk_at = 0.0
        self._store_error: str | None = None

    def loop(self) -> None:
        self.index = Index(self.cfg.data_dir)
        self.history = History(self.cfg.data_dir, self.index.db)
        self.outbox = Outbox(self.cfg.data_dir, self.index.db) if self.cfg.mqtt else None
        try:
            while not self.stop_event.is_set():
                self.beat()
                faults.check("observer.loop")
                self._turn(time.time())
                self.stop_event.wait(TURN_S)
        finally:
            self.index.close()

    def _turn(self, now: float) -> None:
        try:
            changed = self._cameras_and_platforms(now)
            changed |= self._broadcasts(now)
            if now >= self._disk_at:
                changed |= self._disk(now)
            if now >= self._housekeeping_at:
                self._housekeeping(now)
        except sqlite3.Error as exc:  # a full disk: the change is tried again next turn
            if str(exc) != self._store_error:
                logger.error("events: cannot write to %s: %s; retrying", self.cfg.data_dir, exc)
            self._store_error = str(exc)
            return
        if self._store_error:
            logger.info("events: written again (after: %s)", self._store_error)
            self._store_error = None
        if changed:
            self.on_change()

    def _emit(self, channel: str, kind: str, data: dict[str, Any], now: float,
              topic: str = "events") -> None:
        """An event row and its broker message (inside the caller's transaction)."""
        assert self.index is not None
        self.index.add_event(channel, now, kind, data)
        if self.outbox is not None:
            key = "platform" if kind.startswith("platform_") else "channel"
            self.outbox.put(topic, {"type": kind, key: channel, **data}, now)

    def _transaction(self) -> Any:
        assert self.index is not None
        return self.index.transaction()

    def _cameras_and_platforms(self, now: float) -> bool:
        assert self.history is not None
        status = self.status()
        live = {c["id"]: c for c in status.get("cameras", [])}
        states = {c.id: bool(live.get(c.id, {}).get("online")) for c in self.cfg.cameras}
        if self._cameras is None:  # a new watch session starts with everyone's state
            with self._transaction():
                self.history.begin(states, now)
                self.history.trim(now)
            self._cameras = states
        went = {ch: online for ch, online in states.items() if online != self._cameras[ch]}
        platforms = {p["id"]: bool(p.get("registered")) for p in status.get("platforms", [])}
        flipped = {pid: reg for pid, reg in platforms.items()
                   if self._platforms.get(pid, reg) != reg}
        if went or flipped:
            reasons = {p["id"]: p.get("last_error") for p in status.get("platforms", [])}
            with self._transaction():
                if went:
                    self.history.record(went, now)
                for ch, online in went.items():
                    cam = self.cfg.camera(ch)
                    self._emit(ch, "camera_online" if online else "camera_offline", {
                        "name": cam.name if cam else "",
                        "last_error": live.get(ch, {}).get("last_error")}, now)
                for pid, registered in flipped.items():
                    self._emit(pid, "platform_registered" if registered
                               else "platform_unregistered", {"reason": reasons.get(pid)}, now)
        self._cameras = states
        self._platforms = platforms
        return bool(went or flipped)

    def _broadcasts(self, now: float) -> bool:
        """A loudspeaker taken or given back, whoever speaks (the cascade, the room, a
        schedule): an event, and over MQTT, so the county sees which villages heard it."""
        held = {s["id"]: s.get("busy_with") for s in self.status().get("speakers", [])}
        changes = [(sid, self._speakers.get(sid), source) for sid, source in held.items()
                   if source != self._speakers.get(sid)]
        if changes:
            names = {s.id: s.name for s in self.cfg.speakers}
            with self._transaction():
                for sid, before, source in changes:
                    if before:
                        self._emit(sid, "broadcast_ended", {"name": names.get(sid, ""),
                                                            "source": before}, now)
                    if source:
                        self._emit(sid, "broadcast_started", {"name": names.get(sid, ""),
                                                              "source": source}, now)
        self._speakers = held
        return bool(changes)

    def _disk(self, now: float) -> bool:
        self._disk_at = now + DISK_CHECK_S
        self._disk_health(now)
        try:
            facts = disk_facts(self.cfg.data_dir, self.cfg.storage)
        except OSError:
            return False
        low = facts["watermark"] == "low"
        before, self._disk_low = self._disk_low, low
        if before is None or before == low:
            return False
        with self._transaction():
            self._emit(NODE, "disk_low" if low else "disk_ok",
                       {"free_bytes": facts["free_bytes"], "free_percent": facts["free_percent"]},
                       now)
        return True

    def _disk_health(self, now: float) -> None:
        """The collector's verdict (edge-disk-health.timer) as node alarms: wearing, or
        failing; each sent on by MQTT and to the platforms (AlarmMethod 6) when raised."""
        assert self.index is not None
        health = read_disk_health(self.cfg.data_dir)
        state = health.state if health else "unknown"
        if state == self._disk_state:
            return
        self._disk_state = state
        with self._transaction():
            for kind, when in ((ALARM_DISK_WARNING, "warning"), (ALARM_DISK_FAILING, "failing")):
                if health is not None and state == when:
                    self.index.raise_alarm(NODE, kind, disk_alarm_text(health), now)
                else:
                    self.index.clear_alarm(NODE, kind, now)

    def _housekeeping(self, now: float) -> None:
        assert self.history is not None
        self._housekeeping_at = now + HOUSEKEEPING_S
        self.history.touch(now)  # the node was watching until now
        self._alarms(now)
        if self.outbox is not None and self.cfg.mqtt is not None:
            dropped = self.outbox.trim(self.cfg.mqtt.outbox_max_messages,
                                       self.cfg.mqtt.outbox_max_bytes)
            if dropped:
                logger.warning("mqtt: outbox full, dropped the %d oldest message(s)", dropped)

    def _alarms(self, now: float) -> None:
        """Alarms raised (by id) or cleared (by time) in the index since the last look; the
        cursors persist, so a restart neither repeats nor misses one."""
        assert self.index is not None
        with self._transaction():  # the events and their cursors together
            raised = seen_raised = self.index.counter("alarm_raised_id")
            cleared_ms = seen_cleared = self.index.counter("alarm_cleared_ms")
            for alarm in self.index.alarms(open_only=False):
                if alarm.id > seen_raised:
                    self._emit(alarm.channel_id, "alarm_raised", {
                        "alarm": alarm.kind, "message": alarm.message,
                        "raised_ts": alarm.raised_ts}, now, "alarms")
                    raised = max(raised, alarm.id)
                if alarm.cleared_ts is not None and int(alarm.cleared_ts * 1000) > seen_cleared:
                    self._emit(alarm.channel_id, "alarm_cleared", {
                        "alarm": alarm.kind, "cleared_ts": alarm.cleared_ts}, now, "alarms")
                    cleared_ms = max(cleared_ms, int(alarm.cleared_ts * 1000))
            if raised != seen_raised:
                self.index.set_counter("alarm_raised_id", raised)
            if cleared_ms != seen_cleared:
                self.index.set_counter("alarm_cleared_ms", cleared_ms)
