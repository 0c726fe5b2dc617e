"""The uplink runner (a thread of the supervisor): every few seconds it takes the bytes
this process's sockets counted (SIP, MQTT) and the recorder's media sessions sent, adds
the rest of the interface's traffic as "other" where the uplink is a known interface,
keeps per-day totals in SQLite, judges the month against ``[uplink].monthly_budget_mb``
(alarms at 80 % and 100 %, and the restriction the SIP runner obeys) and watches the
4G modem's signal. Its ``state()`` goes to status.json, health and the dashboard."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo


from edge import faults
from edge.config import EdgeConfig
from edge.health.system import (default_route_interface, interface_address, interface_counters,
                                modem_facts)
from edge.record.index import NODE, Index
from edge.runner import Runner
from edge.uplink.budget import MB, PURPOSES, BudgetState, assess, billing_month, restricted
from edge.uplink.meter import METER, Meter
from edge.uplink.store import ByteStore
from edge.uplink.tcpinfo import IPV4_UDP_HEADERS

logger = logging.getLogger(__name__)

TURN_S = 5.0
FLUSH_S = 60.0
MODEM_S = 60.0
ALARM_WARNING, ALARM_OVER = "uplink_budget_warning", "uplink_over_budget"
ALARM_WEAK_SIGNAL = "modem_signal_weak"
MODEM_RESETS = "modem-resets.log"  # a line per reset by edge-modem-watchdog (the image)
RTP_PACKET = 1400  # the packetiser's payload size: one IPv4/UDP header per this many bytes


class UplinkRunner(Runner):
    stale_after_s = 60.0

    def __init__(self, cfg: EdgeConfig, stop: threading.Event,
                 status: Callable[[], dict[str, Any]], meter: Meter = METER) -> None:
        super().__init__("uplink", stop)
        self.cfg, self.u = cfg, cfg.uplink
        self.status = status
        self.meter = meter
        self.restricted = False  # read by the SIP runner (live requests get the sub stream)
        self._pending: dict[str, list[int]] = {p: [0, 0] for p in PURPOSES}
        self._media_seen: dict[str, int] = {}
        self._iface_seen: tuple[int, int] | None = None
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._modem: dict[str, Any] | None = None
        self._flush_at = self._modem_at = 0.0

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def loop(self) -> None:
        index = Index(self.cfg.data_dir)
        store = ByteStore(index.db)
        try:
            while not self.stop_event.is_set():
                self.beat()
                faults.check("uplink.loop")
                self._count()
                now = time.monotonic()
                if now >= self._modem_at:
                    self._modem_at = now + MODEM_S
                    self._watch_modem(index)
                if now >= self._flush_at:
                    self._flush_at = now + FLUSH_S
                    self._flush(index, store)
                self.stop_event.wait(TURN_S)
            self._count()
            self._flush(index, store)
        finally:
            index.close()

    def _count(self) -> None:
        ours = self.meter.take()
        for purpose, (sent, received) in ours.items():
            self._pending[purpose][0] += sent
            self._pending[purpose][1] += received
        media = 0
        sessions = {s["id"]: int(s.get("bytes") or 0) for s in self.status().get("media_sessions", [])}
        for sid, sent in sessions.items():
            delta = max(0, sent - self._media_seen.get(sid, 0))
            media += delta + IPV4_UDP_HEADERS * -(-delta // RTP_PACKET)
        self._media_seen = sessions
        self._pending["media"][0] += media
        iface = self.u.interface or default_route_interface()
        counters = interface_counters(iface) if iface else None
        if counters is None:
            self._iface_seen = None
            return
        seen, self._iface_seen = self._iface_seen, (counters.bytes_sent, counters.bytes_recv)
        if seen is None or not self.u.interface:
            return  # "other" only where the uplink is a known interface (not loopback tests)
        sent = max(0, counters.bytes_sent - seen[0]) - sum(t[0] for t in ours.values()) - media
        received = max(0, counters.bytes_recv - seen[1]) - sum(t[1] for t in ours.values())
        self._pending["other"][0] += max(0, sent)
        self._pending["other"][1] += max(0, received)

    def _flush(self, index: Index, store: ByteStore) -> None:
        wall = time.time()
        today = datetime.fromtimestamp(wall, timezone.utc).astimezone(
            ZoneInfo(self.cfg.node.timezone)).date()
        counts = {p: (v[0], v[1]) for p, v in self._pending.items()}
        with index.transaction():
            store.add(today.isoformat(), counts)
        self._pending = {p: [0, 0] for p in PURPOSES}
        month = billing_month(today, self.u.billing_day)
        month_totals = store.totals(month.first.isoformat(), month.next_first.isoformat())
        day_totals = store.totals(today.isoformat(), date.fromordinal(today.toordinal() + 1).isoformat())
        used = sum(s + r for s, r in month_totals.values())
        local = datetime.fromtimestamp(wall, ZoneInfo(self.cfg.node.timezone))
        elapsed = (local.replace(tzinfo=None) - datetime.combine(month.first, datetime.min.time())
                   ).total_seconds() / 86_400
        budget = assess(used, self.u.monthly_budget_mb, month, elapsed)
        self._budget_alarms(index, budget, wall)
        self.restricted = restricted(budget, self.u.over_budget)
        iface = self.u.interface or default_route_interface()
        with self._lock:
            self._state = {
                "interface": iface, "address": interface_address(iface) if iface else None,
                "today": _by_purpose(day_totals), "month": _by_purpose(month_totals),
                "month_first_day": month.first.isoformat(),
                "budget": {"monthly_mb": self.u.monthly_budget_mb, "used_bytes": budget.used_bytes,
                           "percent": budget.percent, "projected_bytes": budget.projected_bytes,
                           "level": budget.level, "restricted": self.restricted},
                "modem": self._modem,
            }

    def _budget_alarms(self, index: Index, budget: BudgetState, now: float) -> None:
        wanted = {ALARM_WARNING: budget.level == "warning", ALARM_OVER: budget.level == "over"}
        open_kinds = {a.kind for a in index.alarms() if a.channel_id == NODE}
        for kind, on in wanted.items():
            if on and kind not in open_kinds:
                message = (f"本月流量已用 {budget.used_bytes / MB:.1f} MB, 套餐 "
                           f"{self.u.monthly_budget_mb} MB ({budget.percent} %) month's data "
                           f"used {budget.used_bytes / MB:.1f} of {self.u.monthly_budget_mb} MB")
                if kind == ALARM_OVER and self.u.over_budget == "restrict":
                    message += "; 实时视频改用子码流 live video uses the sub stream"
                index.raise_alarm(NODE, kind, message, now)
                logger.warning("uplink: %s", message)
            elif not on and kind in open_kinds:
                index.clear_alarm(NODE, kind, now)

    def _watch_modem(self, index: Index) -> None:
        modem = modem_facts()
        resets = self.cfg.data_dir / MODEM_RESETS
        if modem is not None and resets.exists():  # the image's modem watchdog writes it
            modem["watchdog_resets"] = resets.read_bytes().count(b"\n")
        with self._lock:
            self._modem = modem
            if self._state:
                self._state["modem"] = modem
        signal = (modem or {}).get("signal_quality_percent")
        weak = signal is not None and signal < self.u.weak_signal_percent
        is_open = any(a.kind == ALARM_WEAK_SIGNAL for a in index.alarms() if a.channel_id == NODE)
        now = time.time()
        if weak and not is_open:
            assert modem is not None
            message = (f"4G 信号弱 weak 4G signal: {signal} % < {self.u.weak_signal_percent} % "
                       f"({modem.get('access_technology') or '?'}, "
                       f"{modem.get('operator') or '?'}): 主码流可能无法上传 the main stream may "
                       "not fit")
            index.raise_alarm(NODE, ALARM_WEAK_SIGNAL, message, now)
            logger.warning("uplink: %s", message)
        elif not weak and is_open and modem is not None:
            index.clear_alarm(NODE, ALARM_WEAK_SIGNAL, now)


def _by_purpose(totals: dict[str, tuple[int, int]]) -> dict[str, dict[str, int]]:
    return {p: {"sent": totals.get(p, (0, 0))[0], "received": totals.get(p, (0, 0))[1]}
            for p in PURPOSES}
