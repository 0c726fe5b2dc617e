"""SUBSCRIBE/NOTIFY dialogs opened by one upper platform (RFC 6665; GB/T 28181 9.11). Pure.

A platform subscribes to ``Catalog`` (channel ON/OFF changes) or ``Alarm`` (2016 texts
say ``presence``); we keep the dialog (Call-ID, both tags, the platform's Contact) and
send in-dialog NOTIFYs until it expires, is refreshed, or is ended with Expires: 0.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace

from edge.digits import is_digits
from edge.gb28181.sip.message import SipRequest, SipResponse, response_to, with_header

DEFAULT_EXPIRES_S = 3600
MAX_EXPIRES_S = 86_400
MAX_SUBSCRIPTIONS = 16  # per platform: a misbehaving peer cannot grow our memory
PACKAGES = {"catalog": "Catalog", "alarm": "Alarm", "presence": "Alarm"}
_URI = re.compile(r"<([^>]+)>|(sip:[^;,\s]+)")


@dataclass
class Subscription:
    package: str  # "Catalog" or "Alarm": the MANSCDP CmdType it carries
    event: str  # the Event header, echoed verbatim in every NOTIFY
    call_id: str
    remote: str  # the platform's From header without its tag
    remote_tag: str
    local_tag: str
    target: str  # Request-URI of our NOTIFYs: the platform's Contact
    expires_at: float
    cseq: int = 0


@dataclass
class Subscriptions:
    local_uri: str  # sip:<node id>@<domain>
    via: str  # "SIP/2.0/UDP host:port"
    rng: random.Random = field(default_factory=random.Random)
    active: list[Subscription] = field(default_factory=list)

    def subscribe(self, request: SipRequest, now: float, ok_body: bytes) -> SipResponse:
        """Open, refresh or end (Expires: 0) a subscription; the 200 OK carries ``ok_body``."""
        event = request.header("Event") or ""
        package = PACKAGES.get(event.split(";")[0].strip().lower())
        if package is None:
            return with_header(response_to(request, 489, "Bad Event"), "Allow-Events",
                               "Catalog, Alarm")
        expires_text = (request.header("Expires") or str(DEFAULT_EXPIRES_S)).strip()
        if not is_digits(expires_text) or len(expires_text) > 10:
            return response_to(request, 400, "Bad Expires")
        expires = min(int(expires_text), MAX_EXPIRES_S)
        call_id = request.header("Call-ID") or ""
        remote, remote_tag = _split_tag(request.header("From") or "")
        existing = next((s for s in self.active if s.call_id == call_id
                         and s.remote_tag == remote_tag), None)
        if expires == 0:
            if existing:
                self.active.remove(existing)
            local_tag = existing.local_tag if existing else self._token()
        elif existing:
            existing.expires_at = now + expires
            local_tag = existing.local_tag
        else:
            if len(self.active) >= MAX_SUBSCRIPTIONS:
                return response_to(request, 503, "Too Many Subscriptions")
            local_tag = self._token()
            contact = _uri(request.header("Contact") or "") or _uri(remote) or ""
            self.active.append(Subscription(package, event, call_id, remote, remote_tag,
                                            local_tag, contact, now + expires))
        ok = response_to(request, 200, "OK", to_tag=local_tag)
        ok = with_header(ok, "Expires", str(expires))
        ok = with_header(ok, "Contact", f"<{self.local_uri}>")
        ok = with_header(ok, "Content-Type", "Application/MANSCDP+xml")
        return replace(ok, body=ok_body)

    def expire(self, now: float) -> list[Subscription]:
        """Drop subscriptions the platform did not refresh in time; return them."""
        gone = [s for s in self.active if s.expires_at <= now]
        self.active = [s for s in self.active if s.expires_at > now]
        return gone

    def notify(self, package: str, body: bytes, now: float) -> list[SipRequest]:
        """In-dialog NOTIFYs carrying ``body`` to every live subscription to ``package``."""
        out = []
        for sub in self.active:
            if sub.package != package or sub.expires_at <= now:
                continue
            sub.cseq += 1
            remaining = int(sub.expires_at - now)
            out.append(SipRequest("NOTIFY", sub.target, (
                ("Via", f"{self.via};rport;branch=z9hG4bK{self._token()}"),
                ("From", f"<{self.local_uri}>;tag={sub.local_tag}"),
                ("To", f"{sub.remote};tag={sub.remote_tag}"),
                ("Call-ID", sub.call_id),
                ("CSeq", f"{sub.cseq} NOTIFY"),
                ("Max-Forwards", "70"),
                ("Event", sub.event),
                ("Subscription-State", f"active;expires={remaining}"),
                ("Content-Type", "Application/MANSCDP+xml"),
            ), body))
        return out

    def has(self, package: str, now: float) -> bool:
        return any(s.package == package and s.expires_at > now for s in self.active)

    def _token(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"


def _split_tag(header: str) -> tuple[str, str]:
    match = re.search(r";\s*tag=([^;\s]+)", header)
    if not match:
        return header.strip(), ""
    return (header[:match.start()] + header[match.end():]).strip(), match.group(1)


def _uri(header: str) -> str | None:
    match = _URI.search(header)
    return (match.group(1) or match.group(2)) if match else None
