"""MQTT runner: status with last will, health, camera state, the outbox, commands.

A thread of the supervisor, driving paho-mqtt's network loop itself (callbacks run in
this thread, so they may use SQLite). It publishes the live state the supervisor holds
and drains the outbox (filled by the observer, edge/events/observer.py) in order,
deleting each message only after its PUBACK. The broker
being down, refusing us or unreachable is one log line per change and a retry with
back-off; the rest of the appliance never waits for it.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge import __version__, faults
from edge import config as config_mod
from edge.command import edge_argv
from edge.config import EdgeConfig, MqttConfig, read_secret
from edge.health.counts import by_hour, totals
from edge.errors import ConfigError
from edge.gb28181.answers import format_local_time
from edge.health import delta, payload
from edge.health.availability import online_rate
from edge.health.history import History
from edge.health.system import disk_facts, ntp_synchronized, system_facts, uplink_facts
from edge.ingest.backoff import Backoff
from edge.mqtt.commands import CommandError, parse_args, reply_topic
from edge.mqtt.encoding import CONTENT_TYPE, ENCODING_PROPERTY, encode
from edge.mqtt.outbox import Outbox
from edge.mqtt.topics import Topics
from edge.record.index import Index
from edge.retention.manager import ALARM_BELOW_MINIMUM
from edge.timefmt import local_day
from edge.runner import Runner, survive
from edge.uplink.meter import METER
from edge.voice import client as voice

logger = logging.getLogger(__name__)

LOOP_S = 0.2
MAX_INFLIGHT = 20
UPDATE_TIMEOUT_S = 3600  # a bundle over a slow 4G link
# commands that spend the metered link, refused over the month's budget unless forced
HELD_OVER_BUDGET = {
    "snapshot": "本月流量已超套餐, 快照暂缓 over the month's data budget: snapshots wait for the "
                "next month (or send force: true)",
    "update": "本月流量已超套餐, 暂不下载升级包 over the month's data budget: no bundle download "
              "(or send force: true)",
}
HEALTH_MIN_GAP_S = 5.0  # "at once on important changes", but not a storm
RECONNECT_MAX_S = 60.0
STOP_FLUSH_S = 3.0
SNAPSHOT_TIMEOUT_S = 20.0
CHILD_COMMANDS = 2  # commands whose child process may run at once (snapshot, update)
DAY_S = 86_400.0
UNSUPPORTED_PROTOCOL = "Unsupported protocol version"  # paho's reading of a 3.1.1 CONNACK 1
SESSION_FIELDS = ("channel", "kind", "transport", "state", "bytes", "started_ts")  # per platform


def make_client(cfg: EdgeConfig, protocol: mqtt.MQTTProtocolVersion) -> mqtt.Client:
    """A paho client set up from ``[mqtt]`` (shared with ``edge mqtt-test``)."""
    m = cfg.mqtt
    assert m is not None
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=m.client_id or f"edge-{cfg.node.id}", protocol=protocol,
                         clean_session=None if protocol == mqtt.MQTTv5 else True)
    if m.username:
        client.username_pw_set(m.username, read_secret(m.password, m.password_file) or None)
    if m.tls:
        client.tls_set(ca_certs=m.ca_file or None, certfile=m.cert_file or None,
                       keyfile=m.key_file or None)
    return client


def describe_connect_error(exc: BaseException, m: MqttConfig) -> str:
    """One precise line for why the broker could not be reached."""
    where = f"{m.host}:{m.broker_port}"
    if isinstance(exc, socket.gaierror):
        return f"域名解析失败 cannot resolve {m.host}: {exc.strerror}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS 证书校验失败 certificate not trusted by {where}: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS 握手失败 TLS handshake with {where} failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"连接被拒绝 connection refused by {where} (broker down or wrong port?)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"连接超时 timed out connecting to {where}"
    if isinstance(exc, OSError):
        return f"无法连接 cannot connect to {where}: {exc.strerror or exc}"
    return f"无法连接 cannot connect to {where}: {exc}"


def _version(protocol: mqtt.MQTTProtocolVersion) -> str:
    return "5" if protocol == mqtt.MQTTv5 else "3.1.1"


def describe_refusal(reason: Any) -> str:
    text = str(reason)
    if text in ("Not authorized", "Bad user name or password"):
        return f"认证失败 broker refused us: {text} (mqtt.username / password)"
    return f"代理拒绝连接 broker refused the connection: {text}"


class MqttRunner(Runner):
    # a DNS look-up on a dead 4G link can hang for ~30 s (resolv.conf: 5 s x 2 tries x
    # 3 servers) before paho's own 5-s connect timeout even starts
    stale_after_s = 60.0

    def __init__(self, cfg: EdgeConfig, config_path: Path, stop: threading.Event,
                 status: Callable[[], dict[str, Any]], pids: Callable[[], list[int]],
                 on_reload: Callable[[], None]) -> None:
        super().__init__("mqtt", stop)
        assert cfg.mqtt is not None
        self.cfg, self.m = cfg, cfg.mqtt
        self.config_path = config_path
        self.status = status  # the supervisor's live snapshot (cameras, platforms)
        self.pids = pids
        self.on_reload = on_reload
        self.topics = Topics(self.m.topic_prefix, cfg.node.id)
        self.started = time.time()
        self.protocol = mqtt.MQTTv311 if self.m.protocol == "3.1.1" else mqtt.MQTTv5
        self.client: mqtt.Client | None = None
        self._children = threading.BoundedSemaphore(CHILD_COMMANDS)
        self.connected = False
        self._answered = False
        self.last_error: str | None = None
        self._backoff = Backoff(max_delay_s=RECONNECT_MAX_S)
        self._rng = random.Random()
        self._next_attempt = 0.0
        self._inflight: dict[int, int] = {}  # mid -> outbox row
        self._sent_up_to = 0
        self._next_health = 0.0  # the next look for changes (a delta if any)
        self._next_full = 0.0  # the next whole health message
        self._last_health = 0.0
        self._sent_digest: dict[str, Any] | None = None  # what the centre knows
        self._full_ts = 0.0
        self._seq = 0
        self._unacked: dict[int, float] = {}  # mid -> monotonic send time (QoS 1)
        self._cameras: dict[str, tuple[bool, bool]] | None = None  # online, recording
        self._platforms: dict[str, bool] = {}
        self.outbox: Outbox | None = None
        self.history: History | None = None
        self.index: Index | None = None

    # -- the loop -----------------------------------------------------------------

    def open_stores(self) -> None:
        """The SQLite connections, opened in the thread that uses them."""
        self.index = Index(self.cfg.data_dir)
        self.outbox = Outbox(self.cfg.data_dir, self.index.db)
        self.history = History(self.cfg.data_dir, self.index.db)

    def close_stores(self) -> None:
        if self.index is not None:
            self.index.close()  # the one connection the three share

    def loop(self) -> None:
        self.open_stores()
        try:
            while not self.stop_event.is_set():
                self.beat()
                faults.check("mqtt.loop")
                now = time.time()
                self._observe(now)
                if self.client is None and time.monotonic() >= self._next_attempt:
                    self._connect()
                if self.client is None:
                    self.stop_event.wait(LOOP_S)
                    continue
                try:
                    rc = self.client.loop(LOOP_S)
                except Exception as exc:  # paho or one of our callbacks choked on a packet
                    logger.exception("mqtt: dropped the connection after an unexpected error")
                    self._close_socket()
                    self._lost(f"{type(exc).__name__}: {exc}")
                    continue
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    self._lost(mqtt.error_string(rc))
                    continue
                if self.connected:
                    self._drain()
                    if now >= self._next_full:
                        self.publish_health()
                    elif now >= self._next_health:
                        self.publish_delta()
                    self._check_stall()
            self._goodbye()
        finally:
            self._close_socket()  # no DISCONNECT: if we died, the broker sends our will
            self.close_stores()

    def _close_socket(self) -> None:
        sock = self.client.socket() if self.client else None
        if sock is not None:
            METER.unwatch(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _connect(self) -> None:
        m = self.m
        client = make_client(self.cfg, self.protocol)
        client.will_set(self.topics.status, b"offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = lambda _c, _u, sock: METER.unwatch(sock)
        self._answered = False  # a CONNACK came, whatever it said
        try:
            client.connect(m.host, m.broker_port, m.keepalive)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._failed(describe_connect_error(exc, m))
            return
        self.client = client

    def _failed(self, reason: str) -> None:
        if reason != self.last_error:
            logger.error("mqtt: %s; retrying", reason)
        self.last_error = reason
        delay = self._backoff.next_delay(time.monotonic(), self._rng)
        self._next_attempt = time.monotonic() + delay

    def _lost(self, reason: str) -> None:
        if self.connected:
            logger.warning("mqtt: connection to %s lost: %s", self.m.host, reason)
        if not self.connected and not self._answered and self.m.protocol == "auto":
            # some 3.1.1-only brokers hang up on an MQTT 5 CONNECT instead of answering
            # CONNACK 1; try the other version next (a 5-only broker brings us back)
            self.protocol = mqtt.MQTTv311 if self.protocol == mqtt.MQTTv5 else mqtt.MQTTv5
            logger.warning("mqtt: broker closed the connection without answering CONNECT; "
                           "next try with MQTT %s", _version(self.protocol))
        self.connected = False
        self._inflight.clear()
        self._unacked.clear()
        self._sent_up_to = 0  # unacknowledged messages go again, in order
        self.client = None  # paho closed the socket; a new client connects after the back-off
        self._failed(f"connection lost: {reason}")

    # -- paho callbacks (in this thread) ---------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        self._answered = True
        if reason.is_failure:
            if self.m.protocol == "auto" and self.protocol == mqtt.MQTTv5 and \
                    str(reason) == UNSUPPORTED_PROTOCOL:
                logger.warning("mqtt: broker does not speak MQTT 5; using 3.1.1")
                self.protocol = mqtt.MQTTv311
            client.disconnect()
            self.client = None
            self._failed(describe_refusal(reason))
            return
        self.connected = True
        self.last_error = None
        self._backoff.reset()
        logger.info("mqtt: connected to %s:%d (MQTT %s)", self.m.host, self.m.broker_port,
                    _version(self.protocol))
        client.publish(self.topics.status, b"online", qos=1, retain=True)
        client.subscribe(self.topics.commands, qos=1)
        for channel_id, live in self._live_cameras().items():
            self._publish_camera(channel_id, live)
        self._next_full = 0.0  # the centre may have missed deltas: the whole message first

    def _on_socket_open(self, _client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        METER.watch("mqtt", sock)
        try:  # unacknowledged data this long: the kernel gives the connection up
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                            self.m.stall_timeout * 1000)
        except (OSError, AttributeError):
            pass

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any,
                    _props: Any) -> None:
        self._unacked.pop(mid, None)
        row = self._inflight.pop(mid, None)
        if row is not None:
            assert self.outbox is not None
            self.outbox.ack([row])  # deleted only now: the broker has it

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with survive(logger, "mqtt: message on %r", msg._topic[:200]):
            name = self.topics.command_name(msg.topic)
            if name is not None:
                self._command(name, msg)

    # -- publishing -------------------------------------------------------------------

    def _drain(self) -> None:
        assert self.outbox is not None and self.client is not None
        room = MAX_INFLIGHT - len(self._inflight)
        if room <= 0:
            return
        for message in self.outbox.pending(self._sent_up_to, room):
            info = self.client.publish(self.topics.outbox(message.kind), message.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            self._unacked[info.mid] = time.monotonic()
            self._inflight[info.mid] = message.row
            self._sent_up_to = message.row

    def publish_health(self) -> None:
        """The whole health message (retained): hourly, on connect, on request."""
        if self.client is None or not self.connected:
            return
        started = time.process_time()
        now = time.time()
        doc = self.health(now)
        size = self._publish_encoded(self.topics.health, doc, retain=True)
        self._sent_digest, self._full_ts, self._seq = delta.digest(doc), now, 0
        self._last_health = now
        self._next_health = now + self.m.health_interval
        self._next_full = now + self.m.health_full_interval
        logger.debug("mqtt: health published (%d bytes, %.1f CPU-ms)", size,
                     (time.process_time() - started) * 1000)

    def publish_delta(self) -> None:
        """What changed in the digest since the centre last heard, if anything."""
        now = time.time()
        self._next_health = now + self.m.health_interval
        if self.client is None or not self.connected or self._sent_digest is None:
            return
        current = delta.digest(self.health(now))
        changes = delta.diff(self._sent_digest, current)
        if not changes:
            return
        self._seq += 1
        self._publish_encoded(self.topics.health_delta,
                              delta.delta_message(changes, now, self._full_ts, self._seq))
        self._sent_digest = current
        self._last_health = now

    def _publish_encoded(self, topic: str, doc: dict[str, Any], retain: bool = False) -> int:
        assert self.client is not None
        body, packed = encode(doc, self.m.compress)
        props = None
        if self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = CONTENT_TYPE
            if packed:
                props.UserProperty = [ENCODING_PROPERTY]
            else:
                props.PayloadFormatIndicator = 1  # UTF-8
        info = self.client.publish(topic, body, qos=1, retain=retain, properties=props)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._unacked[info.mid] = time.monotonic()
        return len(body)

    def _check_stall(self) -> None:
        """A publish the broker has not acknowledged for stall_timeout: the link stalled
        (no RST, no FIN: paho alone would wait for its next keepalive, minutes on 4G)."""
        if not self._unacked:
            return
        waited = time.monotonic() - min(self._unacked.values())
        if waited >= self.m.stall_timeout:
            logger.warning("mqtt: no PUBACK for %.0f s: the link stalled; reconnecting", waited)
            self._close_socket()
            self._lost(f"链路停滞 link stalled (no PUBACK for {waited:.0f} s)")

    def _publish_camera(self, channel_id: str, live: dict[str, Any]) -> None:
        if self.client is None or not self.connected:
            return
        state = {key: live.get(key) for key in ("online", "recording", "fps", "bitrate_bps",
                                                 "last_error", "last_packet_ts")}
        state["ts"] = time.time()
        self.client.publish(self.topics.camera_state(channel_id),
                            json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode(),
                            qos=1, retain=True)

    def _goodbye(self) -> None:
        """Clean shutdown: a retained ``stopped`` (the last will is only for a crash)."""
        if self.client is None or not self.connected:
            return
        info = self.client.publish(self.topics.status, b"stopped", qos=1, retain=True)
        deadline = time.monotonic() + STOP_FLUSH_S
        while not info.is_published() and time.monotonic() < deadline:
            self.client.loop(LOOP_S)
        self.client.disconnect()
        self.client.loop(LOOP_S)

    # -- watching the node ------------------------------------------------------------

    def _live_cameras(self) -> dict[str, dict[str, Any]]:
        cams = {c["id"]: c for c in self.status().get("cameras", [])}
        return {c.id: cams.get(c.id, {"id": c.id}) for c in self.cfg.cameras}

    def _observe(self, now: float) -> None:
        """Camera changes become retained state at once; camera and platform changes
        bring the health message forward. (Their events and history are the observer's,
        edge/events/observer.py: this runner only sends what it wrote to the outbox.)"""
        live = self._live_cameras()
        states = {ch: (bool(c.get("online")), bool(c.get("recording"))) for ch, c in live.items()}
        before, self._cameras = self._cameras, states
        platforms = {p["id"]: bool(p.get("registered")) for p in self.status().get("platforms", [])}
        flipped = platforms != self._platforms and bool(self._platforms)
        self._platforms = platforms
        if before is None:
            return
        changed = [ch for ch, s in states.items() if s != before.get(ch)]
        for ch in changed:
            self._publish_camera(ch, live[ch])
        if flipped or any(states[ch][0] != before[ch][0] for ch in changed if ch in before):
            # health at once, but at most one every HEALTH_MIN_GAP_S
            self._next_health = min(self._next_health,
                                    max(now, self._last_health + HEALTH_MIN_GAP_S))

    # -- the health message -------------------------------------------------------------

    def health(self, now: float) -> dict[str, Any]:
        assert self.history is not None and self.index is not None and self.outbox is not None
        status = self.status()
        live = self._live_cameras()
        open_alarms = self.index.alarms()
        below = {a.channel_id for a in open_alarms if a.kind == ALARM_BELOW_MINIMUM}
        sessions = self.history.sessions(now - 30 * DAY_S)
        day_start = local_day(now, self.cfg.node.timezone)[0]
        crossed = totals(by_hour(self.index.crossings(day_start, now), day_start))
        cameras = []
        for cam in self.cfg.cameras:
            changes = self.history.changes(cam.id, now - 30 * DAY_S)
            faults = self.index.fault_periods(cam.id, now - 30 * DAY_S)
            facts = payload.CameraFacts(
                cam.id, cam.name, cam.key_area, cam.legal_min_days(self.cfg.retention),
                self.index.oldest(cam.id), cam.id in below,
                online_rate(sessions, changes, now - DAY_S, now, faults),
                online_rate(sessions, changes, now - 30 * DAY_S, now, faults),
                tuple(a.kind.removeprefix("quality_") for a in open_alarms
                      if a.channel_id == cam.id and a.kind.startswith("quality_")),
                (cam.longitude, cam.latitude, cam.direction)
                if cam.longitude is not None and cam.latitude is not None else None,
                crossed.get(cam.id, {}) if cam.tripwires else None)
            cameras.append(payload.camera_entry(facts, live[cam.id], now))
        time_platform = self.cfg.time_platform()
        platforms = status.get("platforms", [])
        sip_offset = next((p["clock_offset_s"] for p in platforms
                           if time_platform and p["id"] == time_platform.id), None)
        node = self.cfg.node
        return payload.build(
            node={"id": node.id, "name": node.name, "version": __version__,
                  "gb_role": node.gb_role},
            now=now, local_time=format_local_time(now, node.timezone),
            uptime_s=now - self.started,
            clock={"source": node.time_source, "sip_offset_s": sip_offset,
                   "ntp_synchronized": ntp_synchronized()},
            system=system_facts(self.pids()),
            disk=disk_facts(self.cfg.data_dir, self.cfg.storage),
            cameras=cameras,
            platforms=[{"id": p["id"], "registered": p["registered"], "state": p["state"],
                        "last_error": p["last_error"],
                        "last_keepalive_ok_ts": p["last_keepalive_ok_ts"],
                        "clock_offset_s": p["clock_offset_s"],
                        "live_sessions": p.get("live_sessions", 0),
                        "playback_sessions": p.get("playback_sessions", 0),
                        "sessions": [{k: s[k] for k in SESSION_FIELDS}
                                     for s in status.get("media_sessions", [])
                                     if s["platform"] == p["id"]]} for p in platforms],
            uplink={**uplink_facts(self.cfg.uplink.interface, modem=False),
                    **status.get("uplink", {})},
            outbox=self.outbox.stats(),
            runners=list(status.get("runners", [])))

    # -- commands ---------------------------------------------------------------------

    def _command(self, name: str, msg: mqtt.MQTTMessage) -> None:
        assert self.index is not None
        props = getattr(msg, "properties", None)
        reply_to = reply_topic(getattr(props, "ResponseTopic", None), self.topics.reply(name))
        correlation = getattr(props, "CorrelationData", None)
        allowed = name in self.m.allowed_commands
        self.index.audit("mqtt", "command", name=name, allowed=allowed)
        if not allowed:
            logger.warning("mqtt: command %r refused: not in mqtt.allowed_commands", name)
            self._reply(reply_to, correlation, {
                "ok": False, "error": f"命令未允许 command {name!r} is not allowed on this node"})
            return
        try:
            args = parse_args(msg.payload)
        except CommandError as exc:
            logger.warning("mqtt: command %s refused: %s", name, exc)
            self._reply(reply_to, correlation, {"ok": False, "error": f"bad request: {exc}"})
            return
        logger.info("mqtt: command %s", name)
        if name == "ping":
            self._reply(reply_to, correlation, {"ok": True, "pong": time.time(),
                                                "version": __version__})
        elif name == "health":
            self.publish_health()
            self._reply(reply_to, correlation, {"ok": True})
        elif name in HELD_OVER_BUDGET and self._restricted() and not args.get("force"):
            self._reply(reply_to, correlation, {"ok": False, "error": HELD_OVER_BUDGET[name]})
        elif name == "snapshot":
            self._spawn(self._snapshot, (str(args.get("channel", "")), reply_to, correlation),
                        reply_to, correlation)
        elif name == "reload-config":
            self._reload(reply_to, correlation)
        elif name == "update":
            self._spawn(self._update, (args, reply_to, correlation), reply_to, correlation)
        elif name == "broadcast":
            self._reply(reply_to, correlation, self._broadcast(args))

    def _broadcast(self, args: dict[str, Any]) -> dict[str, Any]:
        """An announcement already on the box, to the speakers named (all by default), or
        ``{"stop": true}``: through the daemon's voice service, like the room's page."""
        speakers = args.get("speakers", [s.id for s in self.cfg.speakers])
        if args.get("stop") is True:
            return voice.ask(self.cfg.data_dir, {"action": "stop", "speakers": speakers,
                                                 "user": "mqtt"})
        return voice.ask(self.cfg.data_dir, {
            "action": "announce", "announcement": str(args.get("announcement", ""))[:20],
            "speakers": speakers, "repeat": args.get("repeat", 1), "source": "mqtt"})

    def _spawn(self, work: Callable[..., None], args: tuple[Any, ...], reply_to: str,
               correlation: bytes | None) -> None:
        """A command whose work runs a child process, in a thread of its own; at most
        CHILD_COMMANDS at once (eight snapshots asked at once made eight processes), the
        rest refused with a reply that says so."""
        if not self._children.acquire(blocking=False):
            self._reply(reply_to, correlation, {
                "ok": False, "error": f"busy: {CHILD_COMMANDS} commands are running; try again"})
            return

        def run() -> None:
            try:
                work(*args)
            finally:
                self._children.release()

        threading.Thread(target=run, name=f"mqtt-{work.__name__.strip('_')}", daemon=True).start()

    def _restricted(self) -> bool:
        return bool(self.status().get("uplink", {}).get("budget", {}).get("restricted"))

    def _reply(self, topic: str, correlation: bytes | None, body: dict[str, Any] | bytes,
               content_type: str = "application/json") -> None:
        if self.client is None:
            return
        props = None
        if self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = content_type
            if correlation is not None:
                props.CorrelationData = correlation
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.client.publish(topic, data, qos=1, properties=props)

    def _snapshot(self, channel: str, reply_to: str, correlation: bytes | None) -> None:
        """A JPEG of the channel's newest recorded frame (decoded in a child process: the
        supervisor stays free of PyAV)."""
        if self.cfg.camera(channel) is None:
            self._reply(reply_to, correlation, {"ok": False, "error": f"unknown channel {channel!r}"})
            return
        try:
            res = subprocess.run(
                edge_argv("snapshot", "--config", str(self.config_path), "--channel", channel,
                          "-o", "-"), capture_output=True, timeout=SNAPSHOT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._reply(reply_to, correlation, {"ok": False, "error": "snapshot timed out"})
            return
        if res.returncode != 0:
            error = res.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
            self._reply(reply_to, correlation, {"ok": False, "error": error[0]})
            return
        self._reply(reply_to, correlation, res.stdout, "image/jpeg")

    def _update(self, args: dict[str, Any], reply_to: str, correlation: bytes | None) -> None:
        """Download and check in a child process (``edge _request-update``, which leaves the
        request for edge-update.service); the outcome arrives later as an event."""
        url, sha256 = args.get("url"), args.get("sha256")
        if not isinstance(url, str) or not (sha256 is None or isinstance(sha256, str)):
            self._reply(reply_to, correlation, {"ok": False, "error": "bad request: url (string) "
                                                "and optional sha256 (string) expected"})
            return
        argv = edge_argv("_request-update", "--config", str(self.config_path), "--by", "mqtt",
                         url)
        argv += ["--sha256", sha256] if sha256 else []
        argv += ["--allow-downgrade"] if args.get("allow_downgrade") is True else []
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=UPDATE_TIMEOUT_S)
            answer = json.loads(res.stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            answer = {"ok": False, "error": "update request failed"}
        self._reply(reply_to, correlation, answer)

    def _reload(self, reply_to: str, correlation: bytes | None) -> None:
        try:
            config_mod.load(self.config_path)
        except ConfigError as exc:
            self._reply(reply_to, correlation, {"ok": False, "problems": exc.problems})
            return
        self._reply(reply_to, correlation, {"ok": True, "restarting": True})
        logger.warning("mqtt: reload-config: restarting with %s", self.config_path)
        self.on_reload()
