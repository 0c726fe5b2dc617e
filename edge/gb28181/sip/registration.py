"""Registration and keepalive towards one upper platform (GB/T 28181 9.1, 9.6).

Pure state machine: inputs are SIP responses and the current time (monotonic seconds,
plus the wall clock only to read a Date header against); outputs are effects for a
runner to carry out. It never touches a socket or a clock.

    UNREGISTERED --start--> REGISTERING --200--> REGISTERED --refresh/keepalive fail--> REGISTERING
         ^                      |401: answer once with digest         |stop: Expires 0
         |                      |403: FORBIDDEN (long back-off)       v
         +-------- back-off ----+timeout/5xx/4xx                  UNREGISTERING --200/any--> STOPPED

Keepalive MESSAGEs go out every ``keepalive_interval_s`` while registered; after
``keepalive_timeout_count`` unanswered ones in a row, or any 404/403 answer (the
platform forgot us, e.g. after its restart), the node registers again.

Over 4G behind a carrier NAT two more things keep the platform able to reach us: the
first unanswered keepalive refreshes the registration at once (within one keepalive
interval of the platform going quiet), and so does an answer whose Via shows a public
address other than the one the last REGISTER was seen from (the NAT moved our mapping:
the platform must learn the new one before it next sends us an INVITE). With
``nat_keepalive_s`` a 4-byte ping (CRLF CRLF, RFC 5626 4.4.1) goes to a UDP platform when
nothing else did for that long, to keep the mapping open between keepalives.
"""

from __future__ import annotations

import enum
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from edge.digits import is_digits
from edge.errors import ProtocolError
from edge.gb28181.manscdp import render
from edge.digest import authorization, parse_challenge
from edge.gb28181.sip.message import SipRequest, SipResponse

REQUEST_TIMEOUT_S = 32.0  # RFC 3261 Timer F (64 * T1)
T1_S, T2_S = 0.5, 4.0  # RFC 3261 17.1.2.2: UDP retransmits at T1, doubling up to T2
REFRESH_FRACTION = 2 / 3  # re-REGISTER at 2/3 of the granted Expires
RETRY_MIN_S, RETRY_MAX_S = 5.0, 60.0
FORBIDDEN_RETRY_S = 600.0  # a wrong password is not retried hot
MAX_REDIRECTS = 3
_GB_DATE = re.compile(
    r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})T([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,3}))?$")


class State(enum.Enum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FORBIDDEN = "forbidden"
    UNREGISTERING = "unregistering"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class UpperPlatform:
    """What the state machine needs to know about one upper platform and about us."""

    server_id: str
    domain: str
    host: str
    port: int
    transport: str  # "UDP" or "TCP", as written in Via
    local_id: str
    local_host: str
    local_port: int
    username: str
    password: str
    expires_s: int = 3600
    keepalive_interval_s: float = 60.0
    keepalive_timeout_count: int = 3
    charset: str = "GB2312"
    timezone: str = "Asia/Shanghai"
    nat_keepalive_s: float = 0.0  # > 0 (UDP): ping when nothing went out for this long


@dataclass(frozen=True, slots=True)
class Send:
    message: SipRequest
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Ping:
    """A NAT keep-open ping to the platform: the bytes as they go (UDP)."""

    host: str
    port: int
    data: bytes = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class PublicAddressChanged:
    """The platform sees us from a new public address (a NAT rebinding)."""

    before: str
    after: str


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    registered: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """The platform's Date minus our wall clock, in seconds."""

    offset_s: float


Effect = Send | RegistrationChanged | ClockOffset | Ping | PublicAddressChanged


@dataclass
class _Pending:
    kind: str  # "register", "keepalive", "message" (answers, alarms) or "notify"
    sent_at: float
    request: SipRequest
    retransmit_at: float = float("inf")  # UDP only: 4G drops datagrams
    interval: float = T1_S


@dataclass
class Registration:
    cfg: UpperPlatform
    rng: random.Random = field(default_factory=random.Random)
    state: State = State.UNREGISTERED
    last_error: str | None = None
    last_keepalive_ok: float | None = None
    clock_offset_s: float | None = None
    _call_id: str = ""
    _from_tag: str = ""
    _cseq: int = 0
    _sn: int = 0
    _answered_challenge: bool = False
    _refresh_at: float = float("inf")
    _keepalive_at: float = float("inf")
    _retry_at: float = float("inf")
    _failures: int = 0
    _missed_keepalives: int = 0
    _redirects: int = 0
    _target: tuple[str, int] = ("", 0)
    _public: str | None = None  # received:rport of the last REGISTER's answer
    _last_sent: float = 0.0
    _pending: dict[str, _Pending] = field(default_factory=dict)  # by Call-ID and CSeq
    _outbox: list[bytes] = field(default_factory=list)  # MESSAGE bodies waiting their turn

    @property
    def public_host(self) -> str:
        """Our address as the platform sees it (its Via ``received=``), "" if unsaid."""
        return (self._public or "").rpartition(":")[0]

    # -- inputs -----------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        self._target = (self.cfg.host, self.cfg.port)
        self._new_dialog()
        return self._register(now, self.cfg.expires_s)

    def stop(self, now: float) -> list[Effect]:
        """Unregister (Expires: 0) on a clean shutdown."""
        if self.state is not State.REGISTERED:
            self.state = State.STOPPED
            return []
        self.state = State.UNREGISTERING
        self._keepalive_at = self._refresh_at = float("inf")
        return self._register(now, 0)

    def tick(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        for key, pending in list(self._pending.items()):
            if now - pending.sent_at >= self._timeout(pending):
                del self._pending[key]
                effects += self._timed_out(pending, now)
            elif now >= pending.retransmit_at:
                pending.interval = min(pending.interval * 2, T2_S)
                pending.retransmit_at = now + pending.interval
                effects.append(Send(pending.request, *self._target))
        if now >= self._retry_at:
            self._retry_at = float("inf")
            self._new_dialog()
            effects += self._register(now, self.cfg.expires_s)
        if now >= self._refresh_at:
            self._refresh_at = float("inf")
            effects += self._register(now, self.cfg.expires_s)
        if now >= self._keepalive_at:
            self._keepalive_at = now + self.cfg.keepalive_interval_s
            effects.append(self._keepalive(now))
        if (self.cfg.nat_keepalive_s and self.cfg.transport == "UDP"
                and self.state is State.REGISTERED
                and now - self._last_sent >= self.cfg.nat_keepalive_s):
            self._last_sent = now
            effects.append(Ping(*self._target))
        return effects

    def handle(self, response: SipResponse, now: float, wall_now: float) -> list[Effect]:
        """A response from this platform. Unknown transactions are ignored (late retransmits)."""
        key = _key(response.header("Call-ID") or "", response.header("CSeq") or "")
        pending = self._pending.get(key)
        if pending is None or response.status < 200:
            return []
        del self._pending[key]
        if pending.kind == "notify":
            return []
        if pending.kind == "message":
            return self._next_message(now)
        if pending.kind == "keepalive":
            return self._keepalive_answered(response, now)
        return self._register_answered(pending, response, now, wall_now)

    def next_deadline(self) -> float:
        timers = [min(p.sent_at + self._timeout(p), p.retransmit_at)
                  for p in self._pending.values()]
        ping = (self._last_sent + self.cfg.nat_keepalive_s
                if self.cfg.nat_keepalive_s and self.state is State.REGISTERED else float("inf"))
        return min([self._retry_at, self._refresh_at, self._keepalive_at, ping, *timers])

    def _timeout(self, pending: _Pending) -> float:
        """Timer F; a keepalive still unanswered when the next is due counts as lost."""
        if pending.kind == "keepalive":
            return min(REQUEST_TIMEOUT_S, self.cfg.keepalive_interval_s)
        return REQUEST_TIMEOUT_S

    # -- registration -----------------------------------------------------------

    def _register_answered(self, pending: _Pending, response: SipResponse, now: float,
                           wall_now: float) -> list[Effect]:
        status = response.status
        unregistering = self.state is State.UNREGISTERING
        expires = int(pending.request.header("Expires") or 0)
        if status in (401, 407) and not self._answered_challenge:
            header = response.header("WWW-Authenticate") or response.header("Proxy-Authenticate")
            try:
                challenge = parse_challenge(header or "")
            except ProtocolError as exc:
                return self._failed(now, f"bad challenge: {exc}")
            self._answered_challenge = True
            auth = authorization(challenge, self.cfg.username, self.cfg.password, "REGISTER",
                                 pending.request.uri, 1, f"{self.rng.getrandbits(64):016x}")
            return self._register(now, expires, auth)
        self._answered_challenge = False
        if unregistering:
            self.state = State.STOPPED
            return [RegistrationChanged(False, "unregistered")]
        if 200 <= status < 300:
            return self._registered(response, now, wall_now, expires)
        if status == 403 or status in (401, 407):
            self.state = State.FORBIDDEN
            self._retry_at = now + FORBIDDEN_RETRY_S
            self.last_error = f"{status} {response.reason}: 用户名或密码错误 wrong user name or password"
            return [RegistrationChanged(False, self.last_error)]
        if status in (301, 302) and self._redirects < MAX_REDIRECTS:
            target = _contact_host_port(response.header("Contact") or "")
            if target:
                self._redirects += 1
                self._target = target
                self._new_dialog()
                return self._register(now, self.cfg.expires_s)
        return self._failed(now, f"{status} {response.reason}")

    def _registered(self, response: SipResponse, now: float, wall_now: float,
                    asked: int) -> list[Effect]:
        text = (response.header("Expires") or "").strip()
        # a garbled Expires from the platform: refresh on our own schedule
        granted = (int(text) if is_digits(text) and len(text) <= 9 else 0) or asked \
            or self.cfg.expires_s
        was = self.state is State.REGISTERED
        self.state = State.REGISTERED
        self.last_error = None
        self._failures = self._redirects = 0
        if not was:  # a refresh answered does not answer the keepalives that were lost
            self._missed_keepalives = 0
        self._refresh_at = now + granted * REFRESH_FRACTION
        self._public = _via_public(response) or self._public
        effects: list[Effect] = []
        if not was:
            self._keepalive_at = now + self.cfg.keepalive_interval_s
            effects.append(RegistrationChanged(True, f"{response.status} {response.reason}"))
        platform_time = parse_sip_date(response.header("Date") or "", self.cfg.timezone)
        if platform_time is not None:
            self.clock_offset_s = platform_time - wall_now
            effects.append(ClockOffset(self.clock_offset_s))
        return effects

    def _failed(self, now: float, reason: str) -> list[Effect]:
        """Back off with jitter so thousands of nodes do not stampede a restarted platform."""
        was = self.state is State.REGISTERED
        self.state = State.UNREGISTERED
        self.last_error = reason
        self._failures += 1
        self._keepalive_at = self._refresh_at = float("inf")
        delay = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** (self._failures - 1))
        self._retry_at = now + delay * self.rng.uniform(0.5, 1.0)
        self._target = (self.cfg.host, self.cfg.port)
        return [RegistrationChanged(False, reason)] if was or self._failures == 1 else []

    def _timed_out(self, pending: _Pending, now: float) -> list[Effect]:
        if pending.kind == "notify":
            return []
        if pending.kind == "message":
            return self._next_message(now)
        if pending.kind == "keepalive":
            self._missed_keepalives += 1
            if self._missed_keepalives >= self.cfg.keepalive_timeout_count:
                return self._failed(now, f"{self._missed_keepalives} keepalives unanswered")
            # the platform went quiet (or our NAT mapping moved): refresh now rather than
            # after keepalive_timeout_count intervals; a REGISTER that times out fails us
            return self._refresh_now(now)
        if self.state is State.UNREGISTERING:
            self.state = State.STOPPED
            return [RegistrationChanged(False, "unregister timed out")]
        return self._failed(now, "REGISTER timed out")

    def _register(self, now: float, expires: int, auth: str | None = None) -> list[Effect]:
        if self.state in (State.UNREGISTERED, State.FORBIDDEN):
            self.state = State.REGISTERING  # a refresh keeps REGISTERED meanwhile
        cfg = self.cfg
        self._cseq += 1
        headers = self._common_headers("REGISTER", self._call_id, self._from_tag,
                                       f"<sip:{cfg.local_id}@{cfg.domain}>")
        headers += [("Contact", f"<sip:{cfg.local_id}@{cfg.local_host}:{cfg.local_port}>"),
                    ("Expires", str(expires))]
        if auth:
            headers.append(("Authorization", auth))
        request = SipRequest("REGISTER", f"sip:{cfg.server_id}@{cfg.domain}", tuple(headers))
        return [self._send("register", request, now)]

    # -- keepalive --------------------------------------------------------------

    def _keepalive(self, now: float) -> Send:
        self._sn += 1
        body = render("Notify", "Keepalive", self._sn, self.cfg.local_id, [("Status", "OK")],
                      charset=self.cfg.charset)
        return self._message("keepalive", body, now)

    def _message(self, kind: str, body: bytes, now: float) -> Send:
        """A MANSCDP MESSAGE in a transaction of its own (new Call-ID and From tag)."""
        cfg = self.cfg
        call_id = self._token()
        headers = self._common_headers("MESSAGE", call_id, self._token(),
                                       f"<sip:{cfg.server_id}@{cfg.domain}>")
        headers.append(("Content-Type", "Application/MANSCDP+xml"))
        request = SipRequest("MESSAGE", f"sip:{cfg.server_id}@{cfg.domain}", tuple(headers), body)
        return self._send(kind, request, now)

    # -- answers, alarms and in-dialog requests -----------------------------------

    def send_messages(self, bodies: list[bytes], now: float) -> list[Effect]:
        """Queue MANSCDP MESSAGEs (answers, alarms); each goes out after the previous one's
        200 OK (or its timeout), as platforms expect for multi-packet Catalog and
        RecordInfo answers."""
        busy = any(p.kind == "message" for p in self._pending.values())
        self._outbox.extend(bodies)
        return [] if busy else self._next_message(now)

    def send_request(self, request: SipRequest, now: float) -> Effect:
        """An in-dialog request built elsewhere (a subscription's NOTIFY): retransmitted
        over UDP like ours; its answer needs no action."""
        return self._send("notify", request, now)

    def reconfigure(self, cfg: UpperPlatform, now: float) -> list[Effect]:
        """New Expires/keepalive values from the platform (DeviceConfig BasicParam):
        keepalives follow the new interval at once, a new Expires is asked for now."""
        expires_changed = cfg.expires_s != self.cfg.expires_s
        self.cfg = cfg
        if self.state is not State.REGISTERED:
            return []
        self._keepalive_at = now + cfg.keepalive_interval_s
        return self._register(now, cfg.expires_s) if expires_changed else []

    def connection_lost(self, now: float) -> list[Effect]:
        """The TCP connection broke: refresh the registration at once, which opens a new
        one, so the platform can reach us again before the next keepalive."""
        if self.state is not State.REGISTERED:
            return []
        return self._register(now, self.cfg.expires_s)

    def _refresh_now(self, now: float) -> list[Effect]:
        if self.state is not State.REGISTERED or any(
                p.kind == "register" for p in self._pending.values()):
            return []
        return self._register(now, self.cfg.expires_s)

    def _next_message(self, now: float) -> list[Effect]:
        if not self._outbox:
            return []
        self._sn += 1
        return [self._message("message", self._outbox.pop(0), now)]

    def _keepalive_answered(self, response: SipResponse, now: float) -> list[Effect]:
        if 200 <= response.status < 300:
            self._missed_keepalives = 0
            self.last_keepalive_ok = now
            seen = _via_public(response)
            if seen and self._public and seen != self._public:
                before, self._public = self._public, seen
                return [PublicAddressChanged(before, seen), *self._refresh_now(now)]
            return []
        if response.status in (403, 404):
            # the platform no longer knows us (it restarted): register again at once
            self._new_dialog()
            effects = self._failed(now, f"keepalive answered {response.status} {response.reason}")
            self._retry_at = float("inf")
            return effects + self._register(now, self.cfg.expires_s)
        self._missed_keepalives += 1
        return []

    # -- helpers ----------------------------------------------------------------

    def _common_headers(self, method: str, call_id: str, from_tag: str,
                        to: str) -> list[tuple[str, str]]:
        cfg = self.cfg
        cseq = self._cseq if method == "REGISTER" else self._sn
        return [
            ("Via", f"SIP/2.0/{cfg.transport} {cfg.local_host}:{cfg.local_port};rport;"
                    f"branch=z9hG4bK{self._token()}"),
            ("From", f"<sip:{cfg.local_id}@{cfg.domain}>;tag={from_tag}"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "edge"),
        ]

    def _send(self, kind: str, request: SipRequest, now: float) -> Send:
        self._last_sent = now
        pending = _Pending(kind, now, request)
        if self.cfg.transport == "UDP":
            pending.retransmit_at = now + T1_S
        self._pending[_key(request.header("Call-ID") or "", request.header("CSeq") or "")] = pending
        return Send(request, *self._target)

    def _new_dialog(self) -> None:
        """A fresh Call-ID and From tag; refreshes reuse them (RFC 3261 10.2.4)."""
        self._call_id = f"{self._token()}@{self.cfg.local_host}"
        self._from_tag = self._token()
        self._answered_challenge = False

    def _token(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"


def _key(call_id: str, cseq: str) -> str:
    """A client transaction: Call-ID plus CSeq (several NOTIFYs share one dialog)."""
    return f"{call_id} {' '.join(cseq.split())}"


def parse_sip_date(value: str, tz: str) -> float | None:
    """GB style ``2026-11-22T12:00:00.000`` (platform local time) or RFC 1123; else None."""
    value = value.strip()
    match = _GB_DATE.match(value)
    if match:
        y, mo, d, h, mi, s, ms = match.groups()
        try:
            moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                              int((ms or "0").ljust(3, "0")) * 1000, tzinfo=ZoneInfo(tz))
        except ValueError:
            return None
        return moment.timestamp()
    if len(value) > 64 or not value.isascii():  # RFC 1123 dates are short and ASCII
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _via_public(response: SipResponse) -> str | None:
    """``received:rport`` the platform wrote into our Via (RFC 3581), if it did."""
    via = response.header("Via") or ""
    received = re.search(r";\s*received=([0-9A-Fa-f.:\[\]]{1,64})", via)
    rport = re.search(r";\s*rport=([0-9]{1,5})\b", via)
    if not received and not rport:
        return None
    return f"{received.group(1) if received else ''}:{rport.group(1) if rport else ''}"


def _contact_host_port(contact: str) -> tuple[str, int] | None:
    match = re.search(r"sip:(?:[^@>;]+@)?([^:;>]+)(?::([0-9]{1,5}))?", contact)
    if not match or not 0 < int(match.group(2) or 5060) < 65536:
        return None
    return match.group(1), int(match.group(2) or 5060)
