"""Runner: the SIP sockets towards upper platforms, driving one Registration each.

One UDP socket on ``node.sip_port`` serves every UDP platform (responses are routed by
Call-ID); each TCP platform gets its own connection, framed by SipStreamBuffer. The
protocol decisions live in the pure modules (registration, subscription, answers,
control, notices, timesync); this module moves bytes and time and carries out the
actions they ask for. Requests from a platform get their SIP answer at once; MANSCDP
results travel in MESSAGEs of their own, paced by the state machine.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import queue
import random
import re
import select
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from edge import __version__, faults
from edge.config import EdgeConfig, PlatformConfig, platform_password
from edge.errors import ProtocolError
from edge.gb28181.answers import handle, preset_list
from edge.gb28181.broadcast import (
    Answered, Broadcasts, Call, Caller, Refused, response_body,
)
from edge.gb28181.manscdp import ManscdpMessage, parse_body, render
from edge.gb28181.media.sessions import Dialog, MediaSessions
from edge.gb28181.media.sessions import Result as MediaResult
from edge.gb28181.model import (
    Action, ApplyBasicParam, Broadcast, Channel, Link, ManualRecord, Node, QueryPresets, Reboot,
    RequestKeyframe, ResetAlarm, SetGuard, Steer,
)
from edge.gb28181.notices import (
    ALARM_METHOD_FAULT, ALARM_METHOD_VIDEO, ALARM_PRIORITY_DETECTION, ALARM_PRIORITY_DISK_FAILING,
    ALARM_PRIORITY_DISK_WARNING, ALARM_PRIORITY_QUALITY, ALARM_TYPE_DISK_FAULT,
    ALARM_TYPE_INTRUSION, ALARM_TYPE_MOVING_TARGET, ALARM_TYPE_VIDEO_ABNORMAL, RULE_ALARM_TYPES,
    catalog_changes,
    video_alarm, video_loss_alarm,
)
from edge.gb28181.settings import PlatformOverride, RuntimeSettings
from edge.gb28181.sip.framing import SipStreamBuffer
from edge.gb28181.sip.message import SipRequest, SipResponse, parse, response_to, with_header
from edge.gb28181.sip.registration import (
    ClockOffset, Effect, Ping, PublicAddressChanged, Registration, RegistrationChanged, Send,
    State, UpperPlatform,
)
from edge.gb28181.sip.subscription import Subscriptions
from edge.gb28181.timesync import decide_step
from edge.health.disk import ALARM_DISK_FAILING, ALARM_DISK_WARNING
from edge.onvif.device import OnvifError
from edge.ptz.ops import PtzError, describe
from edge.ptz.steering import CASCADE_HOLD_S, Steering
from edge.record.index import NODE, Index
from edge.runner import Runner, survive
from edge.uplink.meter import METER
from edge.voice.speaker import PRIORITY_CASCADE, Claim, Speaker, Speakers

logger = logging.getLogger(__name__)

MAX_WAIT_S = 0.5
UNREGISTER_WAIT_S = 3.0
OPEN_WAIT_S = 2.0  # the recorder binds the session's port; 200 OK only after that
TCP_CONNECT_TIMEOUT_S = 5.0
VOICE_PORT_TRIES = 16  # a broadcast's UDP port: ports another program holds are skipped
MANUAL_RECORD_MAX_S = 3600.0  # a Record without StopRecord locks at most an hour
RECENT_REQUESTS = 256  # retransmitted requests are answered again, not handled twice
ANSWERED_METHODS = ("MESSAGE", "SUBSCRIBE", "NOTIFY", "OPTIONS")
VIDEO_ALARMS_EVERY_S = 1.0  # detections and quality faults looked for in the index
LABEL_NAMES = {"person": "行人 person", "vehicle": "车辆 vehicle",
               "two_wheeler": "两轮车 two-wheeler"}


@dataclass
class _Voice:
    speaker: Speaker
    claim: Claim
    port: int
    udp: socket.socket | None
    receiver: Any = None  # an AudioReceiver once the platform answered


@dataclass
class _Upper:
    cfg: PlatformConfig
    reg: Registration
    subs: Subscriptions
    tcp: socket.socket | None = None
    stream: SipStreamBuffer = field(default_factory=SipStreamBuffer)
    sn: int = 0  # SN of the notices we originate (alarms, catalog changes)


class SipRunner(Runner):
    def __init__(self, cfg: EdgeConfig, stop: threading.Event,
                 channels: Callable[[], list[Channel]],
                 on_reboot: Callable[[], None] | None = None,
                 media: Callable[[dict[str, Any]], bool] | None = None,
                 over_budget: Callable[[], bool] = lambda: False,
                 steering: Steering | None = None, speakers: Speakers | None = None) -> None:
        super().__init__("sip", stop)
        self.speakers = speakers  # the loudspeakers a platform may broadcast to
        self.broadcasts = Broadcasts()
        self._voice: dict[str, _Voice] = {}  # Call-ID -> its speaker, port, receiver
        self._voice_ended: queue.Queue[tuple[str, str]] = queue.Queue()  # from receivers
        self._talks: dict[str, Any] = {}  # media session id -> its TalkSession (对讲)
        self.steering = steering  # the domes, through ONVIF
        self._answers: queue.Queue[tuple[_Upper, list[bytes]]] = queue.Queue()  # asked late
        self.over_budget = over_budget  # the SIM's month is spent: live gets the sub stream
        self.cfg = cfg
        self.channels = channels  # live camera states, from the supervisor
        self.on_reboot = on_reboot
        self.index: Index | None = None
        self.settings = RuntimeSettings.load(cfg.data_dir)
        self.uppers: list[_Upper] = []
        self.udp: socket.socket | None = None
        self.ready = threading.Event()
        self._recent: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._online: dict[str, bool] | None = None  # last seen ON/OFF per channel
        self._alarmed: set[str] = set()  # video loss reported and not yet reset/recovered
        self._event_cursor = self._alarm_cursor = 0  # detections and quality alarms sent
        self._video_alarms_at = 0.0
        self._manual: dict[str, int] = {}  # channel -> lock id of a running RecordCmd
        self.media = media  # sends a command to the recorder process, which has the packets
        ports = cfg.media.rtp_port_range
        self.sessions = MediaSessions(cfg.node.id, (ports[0], ports[-1]), cfg.media.max_sessions)
        self.media_events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._opening: dict[str, queue.Queue[dict[str, Any]]] = {}  # sid -> its open outcome

    def media_event(self, event: dict[str, Any]) -> None:
        """From the recorder's output thread."""
        waiting = self._opening.get(str(event.get("id")))
        if waiting is not None and event.get("event") in ("opened", "ended"):
            waiting.put(event)
        self.media_events.put(event)

    def status(self) -> list[dict[str, object]]:
        """Per-platform state for health reporting."""
        mono_to_wall = time.time() - time.monotonic()
        return [{"id": u.cfg.id, "registered": u.reg.state is State.REGISTERED,
                 "state": u.reg.state.value, "last_error": u.reg.last_error,
                 "last_keepalive_ok_ts": (u.reg.last_keepalive_ok + mono_to_wall
                                          if u.reg.last_keepalive_ok is not None else None),
                 "clock_offset_s": u.reg.clock_offset_s,
                 "keepalive_interval_s": u.reg.cfg.keepalive_interval_s,
                 "subscriptions": sorted({s.package for s in u.subs.active}),
                 **self.sessions.status(u.cfg.id)}
                for u in self.uppers]

    # -- the loop -----------------------------------------------------------------

    def loop(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.udp.bind(("0.0.0.0", self.cfg.node.sip_port))
        except OSError as exc:
            # recording goes on without GB/T 28181; the technician sees why
            self.blocked = (f"无法使用 SIP 端口 cannot use SIP port {self.cfg.node.sip_port} "
                            f"(node.sip_port): {exc.strerror}")
            logger.error("sip: %s; GB/T 28181 is off until it is free", self.blocked)
            self.udp.close()
            return
        self.index = Index(self.cfg.data_dir)
        # alarms from here on (a restart does not send old ones again)
        self._event_cursor, self._alarm_cursor = self.index.last_ids()
        self.uppers = [self._upper(p) for p in self.cfg.platforms if p.enabled]
        self.ready.set()
        try:
            now = time.monotonic()
            for upper in self.uppers:
                self._apply(upper, upper.reg.start(now))
            while not self.stop_event.is_set():
                self.beat()
                faults.check("sip.loop")
                self._poll(self._wait_s())
                now = time.monotonic()
                for upper in self.uppers:
                    self._apply(upper, upper.reg.tick(now))
                    for gone in upper.subs.expire(now):
                        logger.info("platform=%s %s subscription expired", upper.cfg.id,
                                    gone.package)
                self._watch_channels()
                if now >= self._video_alarms_at:
                    self._video_alarms_at = now + VIDEO_ALARMS_EVERY_S
                    self._video_alarms()
                self._media_housekeeping(now)
                self._voice_housekeeping(now)
                self._late_answers(now)
            self._unregister()
        finally:
            for call_id in list(self._voice):
                self._end_voice(call_id, "SIP runner stopped")
            for talk in self._talks.values():
                talk.stop("SIP runner stopped")
            for upper in self.uppers:
                if upper.tcp:
                    METER.unwatch(upper.tcp)
                    upper.tcp.close()
            self.udp.close()
            self.index.close()

    def _upper(self, plat: PlatformConfig) -> _Upper:
        local_host = _local_ip_towards(plat.host, plat.port)
        node = self.cfg.node
        up = UpperPlatform(
            server_id=plat.id, domain=plat.sip_domain, host=plat.host, port=plat.port,
            transport=plat.transport.upper(), local_id=node.id, local_host=local_host,
            local_port=node.sip_port, username=plat.username or node.id,
            password=platform_password(plat), expires_s=plat.expires,
            keepalive_interval_s=plat.keepalive_interval,
            keepalive_timeout_count=plat.keepalive_timeout_count, charset=plat.charset,
            timezone=node.timezone, nat_keepalive_s=float(self.cfg.uplink.nat_keepalive),
        )
        override = self.settings.platforms.get(plat.id)
        if override:
            up = _overridden(up, override)
        subs = Subscriptions(f"sip:{node.id}@{plat.sip_domain}",
                             f"SIP/2.0/{up.transport} {local_host}:{node.sip_port}")
        return _Upper(plat, Registration(up, random.Random()), subs)

    def _wait_s(self) -> float:
        deadline = min((u.reg.next_deadline() for u in self.uppers), default=float("inf"))
        return max(0.0, min(MAX_WAIT_S, deadline - time.monotonic()))

    def _poll(self, timeout: float) -> None:
        assert self.udp is not None
        socks = [self.udp] + [u.tcp for u in self.uppers if u.tcp]
        readable, _, _ = select.select(socks, [], [], timeout)
        for sock in readable:
            if sock is self.udp:
                try:
                    data, peer = self.udp.recvfrom(65_535)
                except OSError as exc:  # ICMP unreachable from an earlier send
                    logger.warning("sip: UDP receive failed: %s", exc)
                    continue
                with survive(logger, "sip: datagram from peer=%s:%s", *peer):
                    self._datagram(data, peer)
            else:
                upper = next(u for u in self.uppers if u.tcp is sock)
                with survive(logger, "platform=%s TCP data", upper.cfg.id):
                    self._tcp_data(upper)

    # -- input --------------------------------------------------------------------

    def _datagram(self, data: bytes, peer: tuple[str, int]) -> None:
        METER.datagram("sip", received=len(data))
        if not data.strip():  # a keep-alive ping (or its pong): nothing to answer
            return
        try:
            msg = parse(data)
        except ProtocolError as exc:
            logger.warning("sip: dropped datagram from %s:%s: %s", *peer, exc)
            return
        if isinstance(msg, SipResponse):
            self._voice_response(msg)
            for upper in self.uppers:
                if upper.cfg.transport == "udp":
                    self._apply(upper, upper.reg.handle(msg, time.monotonic(), time.time()))
        else:
            self._request(msg, lambda out: self._sendto(out, peer), f"{peer[0]}:{peer[1]}")

    def _tcp_data(self, upper: _Upper) -> None:
        assert upper.tcp is not None
        try:
            data = upper.tcp.recv(65_535)
        except OSError as exc:
            data = b""
            logger.warning("platform=%s TCP error: %s", upper.cfg.id, exc)
        if not data:
            self._drop_tcp(upper, "connection closed by the platform")
            return
        upper.stream.feed(data)
        try:
            while (msg := upper.stream.next_message()) is not None:
                if isinstance(msg, SipResponse):
                    self._voice_response(msg)
                    self._apply(upper, upper.reg.handle(msg, time.monotonic(), time.time()))
                else:
                    self._request(msg, lambda out: self._send_tcp(upper, out), upper.cfg.id)
        except ProtocolError as exc:
            self._drop_tcp(upper, f"bad SIP on the stream: {exc}")

    def _request(self, request: SipRequest, reply: Callable[[bytes], None], source: str) -> None:
        if request.method == "ACK":  # never answered (RFC 3261 17.2.1)
            self._media_result(self.sessions.ack(request, time.time()), "")
            return
        key = (request.header("Call-ID") or "", request.header("CSeq") or "",
               request.header("Via") or "")
        if key in self._recent:  # a retransmit: our answer was lost, resend it only
            reply(self._recent[key])
            return
        upper = self._sender(request)
        query: ManscdpMessage | None = None
        if upper is None:
            logger.warning("peer=%s %s from unknown sender %r refused", source, request.method,
                           request.header("From"))
            response = response_to(request, 403, "Forbidden")
        elif request.method in ("MESSAGE", "SUBSCRIBE"):
            try:
                query = parse_body(request.body)
            except ProtocolError as exc:
                logger.warning("platform=%s %s refused: %s", upper.cfg.id, request.method, exc)
                response = response_to(request, 400, "Bad Request")
            else:
                response = (self._subscribe(upper, request, query)
                            if request.method == "SUBSCRIBE" else self._ok(request))
        elif request.method in ANSWERED_METHODS:
            response = self._ok(request)
        elif request.method == "BYE" and request.header("Call-ID") in self.broadcasts.calls:
            response, call = self.broadcasts.bye(request)
            if call is not None:
                logger.info("platform=%s speaker=%s broadcast ended by the platform (BYE)",
                            upper.cfg.id, call.target_id)
                self._end_voice(call.call_id, "the platform ended the broadcast (BYE)", call)
        elif request.method in ("INVITE", "BYE", "CANCEL", "INFO") and self.media is not None:
            response = self._media_request(upper, request, reply)
        elif request.method == "INVITE":
            logger.info("platform=%s INVITE refused: no recorder to send media", upper.cfg.id)
            response = response_to(request, 488, "Not Acceptable Here")
        elif request.method in ("BYE", "CANCEL", "INFO"):
            logger.info("platform=%s %s for a dialog we do not have", upper.cfg.id, request.method)
            response = response_to(request, 481, "Call/Transaction Does Not Exist")
        else:
            logger.info("platform=%s %s is not a method we know", upper.cfg.id, request.method)
            response = with_header(response_to(request, 405, "Method Not Allowed"), "Allow",
                                   ", ".join(ANSWERED_METHODS + ("ACK",)))
        data = bytes(response)
        reply(data)
        self._recent[key] = data
        if len(self._recent) > RECENT_REQUESTS:
            self._recent.popitem(last=False)
        if upper is not None and query is not None and request.method == "MESSAGE":
            self._message(upper, query)

    def _media_request(self, upper: _Upper, request: SipRequest,
                       reply: Callable[[bytes], None]) -> SipResponse:
        """INVITE/BYE/CANCEL: provisional answers go out here, the final one is returned."""
        now = time.monotonic()
        if request.method == "INVITE":
            address = self.cfg.media.announce_address or upper.reg.cfg.local_host
            result = self.sessions.invite(request, upper.cfg.id, self.channels(), address, now,
                                          sub_stream=self.over_budget())
        elif request.method == "BYE":
            result = self.sessions.bye(request)
        elif request.method == "INFO":
            result = self.sessions.info(request)
        else:
            result = self.sessions.cancel(request)
        *early, final = result.responses
        for response in early:
            reply(bytes(response))
        opening = next((str(c["id"]) for c in result.commands if c["op"] == "open"), None)
        if opening is None:
            if not self._media_result(result, upper.cfg.id) and any(
                    c["op"] == "talk" for c in result.commands):
                self.sessions.event({"id": result.commands[0]["id"], "event": "ended"})
                return response_to(request, 500, "Server Internal Error")
            return final
        # a platform in TCP active mode connects as soon as it reads our answer
        self._opening[opening] = outcome = queue.Queue()
        try:
            event = {"id": opening, "event": "ended", "reason": "recorder not running"}
            if self._media_result(result, upper.cfg.id):
                try:
                    event = outcome.get(timeout=OPEN_WAIT_S)
                except queue.Empty:
                    event["reason"] = "the recorder did not open it in time"
                    self._media_result(MediaResult(commands=[{"op": "close", "id": opening}]),
                                       upper.cfg.id)
        finally:
            del self._opening[opening]
        if event["event"] == "opened":
            return final
        self.sessions.event(event)  # forget the dialog: the platform gets no 200 OK for it
        logger.warning("platform=%s media session %s not opened: %s", upper.cfg.id, opening,
                       event.get("reason"))
        return response_to(request, 500, "Server Internal Error")

    def _media_result(self, result: MediaResult, platform: str) -> bool:
        """Hands the commands to the recorder; whether it took them all."""
        if result.note:
            logger.info("platform=%s media: %s", platform or "-", result.note)
        delivered = True
        for command in result.commands:
            if command["op"] == "talk" or command["id"] in self._talks:
                delivered &= self._talk_command(command, platform)
                continue
            if self.media is None or not self.media(command):
                delivered = False
                logger.warning("platform=%s media: recorder not running; %s for session %s "
                               "dropped", platform or "-", command["op"], command["id"])
        return delivered

    def _talk_command(self, command: dict[str, Any], platform: str) -> bool:
        """Talk sessions are the daemon's (the recorder sends video): start, play, close."""
        op, sid = command["op"], str(command["id"])
        if op == "talk":
            from edge.gb28181.media.talk import TalkSession  # numpy: only for a talk

            channel = str(command["channel"])
            claims = []
            for speaker in self.speakers.by_id.values() if self.speakers else []:
                if speaker.cfg.camera == channel:
                    claim = speaker.claim(f"gb28181:{platform}", PRIORITY_CASCADE)
                    if claim is not None:
                        claims.append((speaker, claim))
            talk = TalkSession(command, platform, self.cfg.data_dir, claims,
                               lambda s, why: self.media_events.put(
                                   {"id": s, "event": "ended", "reason": why}))
            try:
                talk.prepare()
            except OSError as exc:
                logger.warning("platform=%s channel=%s talk refused: port %s: %s", platform,
                               channel, command["local_port"], exc)
                for speaker, claim in claims:
                    speaker.release(claim, str(exc))
                return False
            self._talks[sid] = talk
            talk.start()
            if self.index is not None:
                self.index.audit(f"gb28181:{platform}", "gb_talk", channel=channel,
                                 speakers=[s.cfg.id for s, _ in claims])
            logger.info("platform=%s channel=%s talk over %s to %s:%s; its voice to %s",
                        platform, channel, command["transport"], command["address"],
                        command["port"], [s.cfg.id for s, _ in claims] or "no speaker")
        elif op == "play":
            self._talks[sid].play()
        elif op == "close":  # its end event forgets it (and audits the end)
            self._talks[sid].stop("the platform ended the talk")
        return True

    def _media_housekeeping(self, now: float) -> None:
        while True:
            try:
                event = self.media_events.get_nowait()
            except queue.Empty:
                break
            with survive(logger, "media event %.200r", event):
                self._media_event(event)
        for command in self.sessions.tick(now):
            logger.warning("media session %s: no ACK in time, closed", command["id"])
            self._media_result(MediaResult(commands=[command]), "")

    def _media_event(self, event: dict[str, Any]) -> None:
        talk = self._talks.pop(str(event.get("id")), None)
        if talk is not None and self.index is not None:
            self.index.audit(f"gb28181:{talk.platform}", "gb_talk_end", channel=talk.channel,
                             reason=event.get("reason"))
        ended = self.sessions.event(event)
        if ended and ended.state == "finished":
            self._media_status(ended)
        elif ended:  # our side ended it (peer or camera gone): tell the platform
            logger.info("platform=%s media session %s (%s) ended: %s; sending BYE",
                        ended.platform, ended.sid, ended.channel, event.get("reason"))
            self._in_dialog(ended, "BYE", b"")
        elif event.get("event") == "playing":
            logger.info("media session %s: first packet %s ms after ACK", event.get("id"),
                        event.get("first_packet_ms"))

    def _media_status(self, dialog: Dialog) -> None:
        """MediaStatus 121: the footage is all sent (the platform answers with BYE)."""
        upper = next((u for u in self.uppers if u.cfg.id == dialog.platform), None)
        if upper is None:
            return
        upper.sn += 1
        body = render("Notify", "MediaStatus", upper.sn, dialog.channel,
                      [("NotifyType", "121")], charset=upper.cfg.charset)
        logger.info("platform=%s media session %s (%s): all sent, MediaStatus 121",
                    upper.cfg.id, dialog.sid, dialog.channel)
        self._in_dialog(dialog, "MESSAGE", body)

    def _in_dialog(self, dialog: Dialog, method: str, body: bytes) -> None:
        """A request of ours inside an INVITE dialog: its Call-ID, our To-tag as From-tag,
        the platform's From-tag as To-tag, sent to the platform's Contact."""
        upper = next((u for u in self.uppers if u.cfg.id == dialog.platform), None)
        if upper is None:
            return
        upper.sn += 1
        invite = dialog.invite
        contact = re.search(r"<([^>]+)>", invite.header("Contact") or "")
        reg = upper.reg.cfg
        headers = [
            ("Via", f"SIP/2.0/{reg.transport} {reg.local_host}:{reg.local_port};rport;"
                    f"branch=z9hG4bK{random.getrandbits(48):012x}"),
            ("From", f"<sip:{dialog.channel}@{upper.cfg.sip_domain}>;tag={dialog.local_tag}"),
            ("To", invite.header("From") or ""),
            ("Call-ID", dialog.call_id), ("CSeq", f"{upper.sn} {method}"), ("Max-Forwards", "70")]
        if body:
            headers.append(("Content-Type", "Application/MANSCDP+xml"))
        target = contact.group(1) if contact else f"sip:{upper.cfg.id}@{upper.cfg.sip_domain}"
        request = SipRequest(method, target, tuple(headers), body)
        self._apply(upper, [upper.reg.send_request(request, time.monotonic())])

    def _sender(self, request: SipRequest) -> _Upper | None:
        sender = request.header("From") or ""
        return next((u for u in self.uppers if f"sip:{u.cfg.id}@" in sender), None)

    def _ok(self, request: SipRequest) -> SipResponse:
        return response_to(request, 200, "OK", to_tag=f"{random.getrandbits(32):08x}")

    def _subscribe(self, upper: _Upper, request: SipRequest,
                   query: ManscdpMessage) -> SipResponse:
        body = render("Response", query.cmd_type, query.sn, self.cfg.node.id,
                      [("Result", "OK")], charset=upper.cfg.charset)
        response = upper.subs.subscribe(request, time.monotonic(), body)
        logger.info("platform=%s SUBSCRIBE %s Expires %s: %d %s", upper.cfg.id,
                    request.header("Event"), request.header("Expires"), response.status,
                    response.reason)
        return response

    def _message(self, upper: _Upper, query: ManscdpMessage) -> None:
        outcome = handle(query, self._node(upper), self.channels(), self._spans, time.time())
        failed = any(b"<Result>ERROR</Result>" in b for b in outcome.bodies)
        logger.log(logging.WARNING if failed else logging.INFO, "platform=%s %s %s SN=%d: %s",
                   upper.cfg.id, query.root, query.cmd_type, query.sn, outcome.note)
        for action in outcome.actions:  # done before "Result OK" goes out
            self._act(upper, action)
        if outcome.bodies:
            self._apply(upper, upper.reg.send_messages(outcome.bodies, time.monotonic()))

    def _node(self, upper: _Upper) -> Node:
        node, reg = self.cfg.node, upper.reg.cfg
        link = Link(upper.cfg.id, upper.cfg.host, upper.cfg.port, upper.cfg.sip_domain,
                    reg.expires_s, int(reg.keepalive_interval_s), reg.keepalive_timeout_count,
                    upper.cfg.allow_reboot)
        faults = [a.message for a in self.index.alarms() if a.channel_id == NODE
                  and a.kind in (ALARM_DISK_WARNING, ALARM_DISK_FAILING)] if self.index else []
        return Node(node.id, self.settings.name or node.name, node.timezone,
                    charset=upper.cfg.charset, firmware=__version__, link=link,
                    role=node.gb_role,
                    model="edge-platform" if node.gb_role == "platform" else "edge-nvr",
                    fault=faults[0][:120] if faults else None)

    def _spans(self, channel_id: str, start: float, end: float) -> list[tuple[float, float]]:
        assert self.index is not None
        return self.index.recorded_ranges(channel_id, start, end)

    # -- actions asked for by a platform -------------------------------------------

    def _act(self, upper: _Upper, action: Action) -> None:
        assert self.index is not None
        actor = f"gb28181:{upper.cfg.id}"
        now = time.time()
        if isinstance(action, ManualRecord):
            lock = self._manual.pop(action.channel_id, None)
            if lock is not None:
                self.index.end_lock(lock, now)
            if action.start:
                self._manual[action.channel_id] = self.index.add_lock(
                    action.channel_id, now, now + MANUAL_RECORD_MAX_S,
                    f"国标手动录像 GB/T 28181 manual recording ({upper.cfg.id})")
            self.index.audit(actor, "record_cmd", channel=action.channel_id, start=action.start)
        elif isinstance(action, SetGuard):
            (self.settings.disarmed.discard if action.armed
             else self.settings.disarmed.add)(action.channel_id)
            self.settings.save()
            self.index.audit(actor, "guard_cmd", channel=action.channel_id, armed=action.armed)
        elif isinstance(action, ResetAlarm):
            self._alarmed.discard(action.channel_id)
            self.index.audit(actor, "alarm_reset", channel=action.channel_id)
        elif isinstance(action, Reboot):
            self.index.audit(actor, "teleboot")
            logger.warning("platform=%s TeleBoot: stopping cleanly, then %r", upper.cfg.id,
                           self.cfg.node.reboot_command)
            if self.on_reboot:
                self.on_reboot()
        elif isinstance(action, RequestKeyframe):
            logger.info("platform=%s channel=%s keyframe request: no live session to apply it "
                        "to", upper.cfg.id, action.channel_id)
        elif isinstance(action, ApplyBasicParam):
            self._apply_basic_param(upper, action)
            self.index.audit(actor, "device_config", **dataclasses.asdict(action))
        elif isinstance(action, Steer):
            # the platform's, in the audit as the platform's; the room's pad may follow it
            self.index.audit(actor, "ptz", channel=action.channel_id, op=describe(action.op))
            try:
                if self.steering is None:
                    raise PtzError("no steering in this process")
                self.steering.submit(action.channel_id, action.op, actor, CASCADE_HOLD_S)
            except PtzError as exc:
                logger.warning("platform=%s channel=%s PTZ: %s", upper.cfg.id,
                               action.channel_id, exc)
        elif isinstance(action, Broadcast):
            self._broadcast(upper, action)
        elif isinstance(action, QueryPresets):
            threading.Thread(target=self._ask_presets, args=(upper, self._node(upper), action),
                             daemon=True, name=f"presets-{action.channel_id}").start()

    # -- voice broadcast (语音广播) ---------------------------------------------------

    def _broadcast(self, upper: _Upper, ask: Broadcast) -> None:
        """Answer OK with the speaker claimed and a port bound (or ERROR saying why), then
        INVITE the platform for the audio."""
        assert self.index is not None
        now = time.monotonic()
        source = f"gb28181:{upper.cfg.id}"
        # a speaker's own ID, or a camera's with a speaker beside it (WVP's broadcast
        # button on the camera's channel)
        speaker = (self.speakers.get(ask.target_id) or self.speakers.beside(ask.target_id)) \
            if self.speakers else None
        claim = speaker.claim(source, PRIORITY_CASCADE) if speaker else None
        voice: _Voice | None = None
        if speaker is None:
            reason = "the speaker is not enabled"
        elif claim is None:
            reason = f"the speaker is busy with {speaker.busy_with()}"
        else:
            try:
                voice = self._voice_port(speaker, claim, upper.reg.cfg.transport == "TCP")
                reason = ""
            except (OSError, RuntimeError) as exc:
                speaker.release(claim, str(exc))
                reason = f"no port for its audio: {exc}"
        self.index.audit(source, "broadcast", speaker=speaker.cfg.id if speaker else
                         ask.target_id, target=ask.target_id, source=ask.source_id,
                         accepted=voice is not None, reason=reason)
        body = response_body(ask.sn, ask.target_id, voice is not None, upper.cfg.charset)
        self._apply(upper, upper.reg.send_messages([body], now))
        if voice is None:
            logger.warning("platform=%s speaker=%s broadcast refused: %s", upper.cfg.id,
                           ask.target_id, reason)
            return
        reg = upper.reg.cfg
        # UDP audio comes to o=: behind a NAT our private address reaches nobody, the NAT's
        # (as the platform saw our REGISTER) does once our punch opened it (AudioReceiver)
        address = self.cfg.media.announce_address or (
            upper.reg.public_host if voice.udp else "") or reg.local_host
        caller = Caller(reg.local_id, upper.cfg.sip_domain, reg.local_host, reg.local_port,
                        reg.transport, address)
        call = self.broadcasts.start(caller, upper.cfg.id, ask.source_id, ask.target_id,
                                     voice.port, now)
        self._voice[call.call_id] = voice
        logger.info("platform=%s speaker=%s broadcast from %s: INVITE for its audio (%s)",
                    upper.cfg.id, ask.target_id, ask.source_id,
                    f"UDP port {voice.port}" if voice.udp else "TCP")
        self._apply(upper, [upper.reg.send_request(call.invite, now)])

    def _voice_port(self, speaker: Speaker, claim: Claim, tcp: bool) -> _Voice:
        if tcp:  # we connect to the platform's port once it answers
            return _Voice(speaker, claim, 0, None)
        busy: list[int] = []  # by another program on the box: the next port may be free
        try:
            while len(busy) < VOICE_PORT_TRIES:
                port = self.sessions.hold_port()
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    udp.bind(("0.0.0.0", port))
                except OSError as exc:
                    udp.close()
                    busy.append(port)
                    if exc.errno != errno.EADDRINUSE:
                        raise
                    continue
                return _Voice(speaker, claim, port, udp)
            raise OSError(errno.EADDRINUSE, f"ports {', '.join(map(str, busy))} are in use")
        finally:
            for port in busy:
                self.sessions.release_port(port)

    def _voice_response(self, response: SipResponse) -> None:
        outcome = self.broadcasts.response(response)
        if outcome is None:
            return
        call = outcome.call if isinstance(outcome, (Answered, Refused)) else \
            self.broadcasts.calls.get(response.header("Call-ID") or "")
        upper = next((u for u in self.uppers if call and u.cfg.id == call.platform), None)
        if upper is None or call is None:
            return
        ack = outcome if isinstance(outcome, SipRequest) else outcome.ack
        if ack is not None:  # never retransmitted: a lost ACK brings the 200 OK again
            self._apply(upper, [Send(ack, upper.reg.cfg.host, upper.reg.cfg.port)])
        voice = self._voice.get(call.call_id)
        if isinstance(outcome, Refused):
            logger.warning("platform=%s speaker=%s broadcast not set up: %s", upper.cfg.id,
                           call.target_id, outcome.reason)
            self._end_voice(call.call_id, outcome.reason)
        elif isinstance(outcome, Answered) and voice is not None and voice.receiver is None:
            audio = outcome.audio
            logger.info("platform=%s speaker=%s broadcast answered: audio from %s:%s over %s",
                        upper.cfg.id, call.target_id, audio.address, audio.port,
                        "TCP" if audio.tcp else "UDP")
            # imported here: numpy (and PyAV, once a speaker plays) only for a broadcast
            from edge.gb28181.media.audioreceiver import AudioReceiver, Punch

            voice.receiver = AudioReceiver(
                call.call_id, voice.speaker, voice.claim,
                lambda sid, why: self._voice_ended.put((sid, why)), voice.udp,
                (audio.address, audio.port) if audio.tcp else None,
                None if audio.tcp else Punch(audio.address, audio.port, call.ssrc))
            voice.udp = None  # the receiver owns it now
            voice.receiver.start()

    def _voice_housekeeping(self, now: float) -> None:
        for call in self.broadcasts.expire(now):
            logger.warning("platform=%s speaker=%s broadcast INVITE never answered",
                           call.platform, call.target_id)
            self._end_voice(call.call_id, "INVITE never answered")
        while True:
            try:
                call_id, reason = self._voice_ended.get_nowait()
            except queue.Empty:
                return
            self._end_voice(call_id, reason)

    def _end_voice(self, call_id: str, reason: str, ended: Call | None = None) -> None:
        """Release what a broadcast holds; a BYE if the platform still has the dialog
        (not when ``ended`` by the platform's own BYE)."""
        call, bye = (ended, None) if ended else self.broadcasts.hang_up(call_id)
        voice = self._voice.pop(call_id, None)
        if voice is not None:
            if voice.receiver is not None:
                voice.receiver.stop(reason)  # it releases the speaker and its socket
            else:
                if voice.udp is not None:
                    voice.udp.close()
                voice.speaker.release(voice.claim, reason)
            if voice.port:
                self.sessions.release_port(voice.port)
        if call is None:
            return
        if self.index is not None:
            self.index.audit(f"gb28181:{call.platform}", "broadcast_end",
                             speaker=voice.speaker.cfg.id if voice else call.target_id,
                             target=call.target_id, reason=reason, **_recorded(voice))
        upper = next((u for u in self.uppers if u.cfg.id == call.platform), None)
        if bye is not None and upper is not None:
            logger.info("platform=%s speaker=%s broadcast ended: %s; sending BYE",
                        call.platform, call.target_id, reason)
            self._apply(upper, [upper.reg.send_request(bye, time.monotonic())])

    def _ask_presets(self, upper: _Upper, node: Node, query: QueryPresets) -> None:
        """The camera's presets, asked outside the SIP loop (a slow camera must not hold
        it); the answer goes out from the loop."""
        presets: list[tuple[int, str]] = []
        try:
            if self.steering is not None:
                presets = self.steering.presets(query.channel_id)
        except (PtzError, OnvifError) as exc:
            logger.warning("platform=%s channel=%s PresetQuery: %s", upper.cfg.id,
                           query.channel_id, exc)
        self._answers.put((upper, preset_list(node, query.sn, query.channel_id, presets)))

    def _late_answers(self, now: float) -> None:
        while True:
            try:
                upper, bodies = self._answers.get_nowait()
            except queue.Empty:
                return
            self._apply(upper, upper.reg.send_messages(bodies, now))

    def _apply_basic_param(self, upper: _Upper, change: ApplyBasicParam) -> None:
        if change.name:
            self.settings.name = change.name
        override = self.settings.platforms.setdefault(upper.cfg.id, PlatformOverride())
        if change.expires:
            override.expires = change.expires
        if change.heartbeat_interval:
            override.keepalive_interval = change.heartbeat_interval
        if change.heartbeat_count:
            override.keepalive_timeout_count = change.heartbeat_count
        self.settings.save()
        self._apply(upper, upper.reg.reconfigure(_overridden(upper.reg.cfg, override),
                                                 time.monotonic()))

    # -- notices: catalog changes and video loss -------------------------------------

    def _watch_channels(self) -> None:
        channels = self.channels()
        states = {c.id: c.online for c in channels}
        before, self._online = self._online, states
        if before is None:
            return  # the first look is the baseline, not a change
        changed = [c for c in channels if c.id in before and before[c.id] != c.online]
        if not changed:
            return
        now, mono = time.time(), time.monotonic()
        lost = [c for c in changed if not c.online and c.id not in self._alarmed
                and c.id not in self.settings.disarmed]
        for c in changed:
            if c.online:
                self._alarmed.discard(c.id)  # recovered: the next loss is a new alarm
        self._alarmed |= {c.id for c in lost}
        for upper in self.uppers:
            if upper.reg.state is not State.REGISTERED:
                continue
            node = self._node(upper)
            if upper.subs.has("Catalog", mono):
                upper.sn += 1
                for body in catalog_changes(node, upper.sn, changed):
                    self._notify(upper, "Catalog", body, mono)
            elif upper.cfg.catalog_by_message:  # a platform that never subscribes
                upper.sn += 1
                self._apply(upper, upper.reg.send_messages(
                    catalog_changes(node, upper.sn, changed), mono))
            for channel in lost:
                upper.sn += 1
                body = video_loss_alarm(node, upper.sn, channel, now)
                logger.warning("platform=%s channel=%s video loss alarm sent", upper.cfg.id,
                               channel.id)
                if upper.subs.has("Alarm", mono):
                    self._notify(upper, "Alarm", body, mono)
                else:  # 2016 style: an alarm MESSAGE when the platform did not subscribe
                    self._apply(upper, upper.reg.send_messages([body], mono))

    def _video_alarms(self) -> None:
        """Detections (the detector process writes them) and quality faults (alarms it
        raises) of armed channels, to every registered platform: AlarmMethod 5."""
        assert self.index is not None
        names = {c.id: c.name for c in self.cfg.cameras}
        zoned = {c.id for c in self.cfg.cameras if c.zones}
        out: list[tuple[str, str, str, str, float, str]] = []
        for event in self.index.events_after(self._event_cursor, RULE_ALARM_TYPES):
            self._event_cursor = event.id
            if event.data.get("armed") is False:
                continue  # outside its rule's arming schedule: kept for the review only
            label = LABEL_NAMES.get(str(event.data.get("label")), str(event.data.get("label")))
            kind = RULE_ALARM_TYPES[event.kind] or (
                ALARM_TYPE_INTRUSION if event.channel_id in zoned else ALARM_TYPE_MOVING_TARGET)
            rule = f" {event.data.get('rule')}" if event.data.get("rule") else ""
            out.append((event.channel_id, kind, ALARM_PRIORITY_DETECTION,
                        f"{label}{rule}: {names.get(event.channel_id, '')}", event.ts,
                        ALARM_METHOD_VIDEO))
        for alarm in self.index.alarms(open_only=False):
            if alarm.id > self._alarm_cursor:
                self._alarm_cursor = alarm.id
                if alarm.kind.startswith("quality_"):
                    out.append((alarm.channel_id, ALARM_TYPE_VIDEO_ABNORMAL,
                                ALARM_PRIORITY_QUALITY, alarm.message, alarm.raised_ts,
                                ALARM_METHOD_VIDEO))
                elif alarm.kind in (ALARM_DISK_WARNING, ALARM_DISK_FAILING):
                    out.append((self.cfg.node.id, ALARM_TYPE_DISK_FAULT,
                                ALARM_PRIORITY_DISK_FAILING if alarm.kind == ALARM_DISK_FAILING
                                else ALARM_PRIORITY_DISK_WARNING, alarm.message,
                                alarm.raised_ts, ALARM_METHOD_FAULT))
        out = [a for a in out if a[0] not in self.settings.disarmed]
        mono = time.monotonic()
        for upper in self.uppers:
            if upper.reg.state is not State.REGISTERED:
                continue
            for channel_id, alarm_type, priority, description, ts, method in out:
                upper.sn += 1
                body = video_alarm(self._node(upper), upper.sn, channel_id, alarm_type,
                                   priority, description, ts, method)
                logger.info("platform=%s channel=%s alarm type %s sent", upper.cfg.id,
                            channel_id, alarm_type)
                if upper.subs.has("Alarm", mono):
                    self._notify(upper, "Alarm", body, mono)
                else:
                    self._apply(upper, upper.reg.send_messages([body], mono))

    def _notify(self, upper: _Upper, package: str, body: bytes, now: float) -> None:
        for request in upper.subs.notify(package, body, now):
            self._apply(upper, [upper.reg.send_request(request, now)])

    # -- output -------------------------------------------------------------------

    def _apply(self, upper: _Upper, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                data = bytes(effect.message)
                if upper.cfg.transport == "udp":
                    self._sendto(data, (effect.host, effect.port))
                else:
                    self._send_tcp(upper, data, (effect.host, effect.port))
            elif isinstance(effect, RegistrationChanged):
                level = logging.INFO if effect.registered else logging.WARNING
                logger.log(level, "platform=%s %s: %s", upper.cfg.id,
                           "registered" if effect.registered else "not registered", effect.reason)
            elif isinstance(effect, ClockOffset):
                self._clock_offset(upper, effect.offset_s)
            elif isinstance(effect, Ping):
                self._sendto(effect.data, (effect.host, effect.port))
            elif isinstance(effect, PublicAddressChanged):
                logger.warning("platform=%s sees us from a new public address %s (was %s: the "
                               "NAT moved us); registering again", upper.cfg.id, effect.after,
                               effect.before)

    def _clock_offset(self, upper: _Upper, offset_s: float) -> None:
        time_platform = self.cfg.time_platform()
        if time_platform is None or time_platform.id != upper.cfg.id:
            if abs(offset_s) > 1:
                logger.warning("platform=%s clock differs from ours by %.1f s", upper.cfg.id,
                               offset_s)
            return
        decision = decide_step(offset_s, time.time())
        if decision.step_s == 0.0:
            if abs(offset_s) > 1:
                logger.error("platform=%s clock step %s", upper.cfg.id, decision.reason)
            return
        try:
            time.clock_settime(time.CLOCK_REALTIME, time.time() + decision.step_s)
        except OSError as exc:  # needs CAP_SYS_TIME (the systemd unit grants it)
            logger.error("platform=%s cannot step the clock by %.1f s: %s", upper.cfg.id,
                         decision.step_s, exc)
            return
        logger.warning("platform=%s clock stepped by %.1f s (%s)", upper.cfg.id,
                       decision.step_s, decision.reason)
        assert self.index is not None
        self.index.audit(f"gb28181:{upper.cfg.id}", "clock_step", seconds=decision.step_s,
                         reason=decision.reason)

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.udp is not None
        try:
            self.udp.sendto(data, addr)
            METER.datagram("sip", sent=len(data))
        except OSError as exc:  # e.g. the 4G link is down: the transaction times out
            logger.warning("sip: cannot send to %s:%s: %s", *addr, exc)

    def _send_tcp(self, upper: _Upper, data: bytes,
                  addr: tuple[str, int] | None = None) -> None:
        if upper.tcp is None:
            target = addr or (upper.cfg.host, upper.cfg.port)
            try:
                upper.tcp = socket.create_connection(target, TCP_CONNECT_TIMEOUT_S)
            except OSError as exc:
                logger.warning("platform=%s cannot connect %s:%s: %s", upper.cfg.id, *target, exc)
                return
            METER.watch("sip", upper.tcp)
            upper.stream = SipStreamBuffer()
        try:
            upper.tcp.sendall(data)
        except OSError as exc:
            self._drop_tcp(upper, f"send failed: {exc}")

    def _drop_tcp(self, upper: _Upper, reason: str) -> None:
        logger.warning("platform=%s TCP %s", upper.cfg.id, reason)
        if upper.tcp:
            METER.unwatch(upper.tcp)
            upper.tcp.close()
        upper.tcp = None
        if not self.stop_event.is_set():
            self._apply(upper, upper.reg.connection_lost(time.monotonic()))

    def _unregister(self) -> None:
        """Expires: 0 to every platform, then wait briefly for the answers."""
        now = time.monotonic()
        for upper in self.uppers:
            self._apply(upper, upper.reg.stop(now))
        deadline = now + UNREGISTER_WAIT_S
        while time.monotonic() < deadline and any(
                u.reg.state is State.UNREGISTERING for u in self.uppers):
            self._poll(min(MAX_WAIT_S, max(0.0, deadline - time.monotonic())))


def _recorded(voice: _Voice | None) -> dict[str, str]:
    """The evidence file of a broadcast, for its audit entry ([voice] record)."""
    return {"recording": voice.claim.recording} if voice and voice.claim.recording else {}


def _overridden(up: UpperPlatform, override: PlatformOverride) -> UpperPlatform:
    return dataclasses.replace(
        up, expires_s=override.expires or up.expires_s,
        keepalive_interval_s=override.keepalive_interval or up.keepalive_interval_s,
        keepalive_timeout_count=override.keepalive_timeout_count or up.keepalive_timeout_count)


def _local_ip_towards(host: str, port: int) -> str:
    """The local address the kernel would use to reach the platform (for Via/Contact)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, port))  # UDP connect sends nothing
            return str(probe.getsockname()[0])
        except OSError:
            return "0.0.0.0"
