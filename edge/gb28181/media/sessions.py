"""INVITE dialogs for media sessions (GB/T 28181 9.2): offer -> answer -> ACK -> media ->
BYE. Pure: requests, recorder events and the time go in; SIP responses and media
commands (for the recorder process, which has the camera packets) come out.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from edge.errors import ProtocolError
from edge.gb28181.media.mansrtsp import parse_control
from edge.gb28181.media.sdp import Offer, SdpError, answer, parse_offer
from edge.gb28181.model import Channel
from edge.gb28181.sip.message import SipRequest, SipResponse, response_to, with_header

ACK_TIMEOUT_S = 32.0  # RFC 3261 Timer H: no ACK, no session


@dataclass
class Dialog:
    sid: str
    platform: str
    channel: str
    call_id: str
    remote_tag: str
    local_tag: str
    offer: Offer
    local_port: int
    invite: SipRequest
    created: float
    state: str = "offered"  # offered -> playing (-> finished, history)
    first_packet_ms: int | None = None
    started_ts: float | None = None  # wall clock, from the runner


@dataclass
class Result:
    responses: list[SipResponse] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class MediaSessions:
    node_id: str
    ports: tuple[int, int]
    max_sessions: int
    rng: random.Random = field(default_factory=random.Random)
    dialogs: dict[str, Dialog] = field(default_factory=dict)  # by Call-ID
    held: set[int] = field(default_factory=set)  # ports taken by broadcast audio
    _next_port: int = 0

    def hold_port(self) -> int:
        """A port of the range for another use (a broadcast's audio), until released."""
        port = self._port()
        self.held.add(port)
        return port

    def release_port(self, port: int) -> None:
        self.held.discard(port)

    def invite(self, request: SipRequest, platform: str, channels: list[Channel],
               local_address: str, now: float, sub_stream: bool = False) -> Result:
        """``sub_stream``: live goes out as the sub stream whatever was asked (the SIM's
        month is spent); the recorder sends the main stream where there is no sub."""
        call_id = request.header("Call-ID") or ""
        if call_id in self.dialogs:  # a re-INVITE: keep the session, answer as before
            dialog = self.dialogs[call_id]
            return Result([self._ok(request, dialog, local_address)], note="re-INVITE")
        trying = response_to(request, 100, "Trying")
        target = _user(request.uri)
        channel = next((c for c in channels if c.id == target), None)
        if channel is None:
            return Result([trying, response_to(request, 404, "Not Found")],
                          note=f"INVITE for unknown channel {target!r}")
        try:
            offer = parse_offer(request.body.decode("utf-8", "replace"))
        except SdpError as exc:
            refusal = with_header(response_to(request, 488, "Not Acceptable Here"), "Warning",
                                  f'399 edge "{exc}"')
            return Result([trying, refusal], note=f"SDP refused: {exc}")
        if offer.channel and offer.channel != channel.id:
            return Result([trying, response_to(request, 488, "Not Acceptable Here")],
                          note=f"u={offer.channel} does not match the Request-URI {channel.id}")
        if offer.kind in ("Play", "Talk") and not channel.online:
            return Result([trying, response_to(request, 480, "Temporarily Unavailable")],
                          note=f"camera {channel.id} is offline")
        if len(self.dialogs) >= self.max_sessions:
            return Result([trying, response_to(request, 486, "Busy Here")],
                          note=f"{len(self.dialogs)} sessions: media.max_sessions reached")
        port = self._port()
        dialog = Dialog(f"{self.rng.getrandbits(40):010x}", platform, channel.id, call_id,
                        _tag(request.header("From") or ""), f"{self.rng.getrandbits(32):08x}",
                        offer, port, request, now)
        self.dialogs[call_id] = dialog
        # Talk is carried by the daemon itself (the camera's audio from the live tap, the
        # platform's voice to a loudspeaker), not the recorder: its own command
        command = {"op": "talk" if offer.kind == "Talk" else "open", "id": dialog.sid, "channel": channel.id, "kind": offer.kind,
                   "transport": offer.transport, "address": offer.address, "port": offer.port,
                   "local_port": port, "ssrc": int(offer.ssrc), "pt": offer.payload_type,
                   "start": offer.start, "end": offer.end, "speed": offer.speed,
                   "stream": 1 if sub_stream and offer.kind == "Play" else offer.stream}
        return Result([trying, self._ok(request, dialog, local_address)], [command],
                      note=f"{offer.kind} {channel.id} over {offer.transport} to "
                           f"{offer.address}:{offer.port}, SSRC {offer.ssrc}"
                           + (" (sub stream: over the data budget)" if sub_stream else ""))

    def info(self, request: SipRequest) -> Result:
        """MANSRTSP PLAY/PAUSE/Scale/seek inside a playback dialog."""
        dialog = self.dialogs.get(request.header("Call-ID") or "")
        if dialog is None:
            return Result([response_to(request, 481, "Call/Transaction Does Not Exist")])
        try:
            control = parse_control(request.body)
        except ProtocolError as exc:
            return Result([response_to(request, 400, "Bad Request")], note=f"INFO refused: {exc}")
        if control.action == "teardown":
            del self.dialogs[dialog.call_id]
            return Result([response_to(request, 200, "OK")], [{"op": "close", "id": dialog.sid}],
                          note=f"TEARDOWN {dialog.channel}")
        if dialog.offer.kind == "Play":
            return Result([response_to(request, 200, "OK")], note="INFO on a live session ignored")
        return Result([response_to(request, 200, "OK")], [{
            "op": "control", "id": dialog.sid, "action": control.action, "scale": control.scale,
            "seek_s": control.seek_s}], note=f"INFO {control}")

    def ack(self, request: SipRequest, wall_now: float | None = None) -> Result:
        dialog = self.dialogs.get(request.header("Call-ID") or "")
        if dialog is None or dialog.state != "offered":
            return Result()
        dialog.state = "playing"  # media only after ACK
        dialog.started_ts = wall_now
        return Result(commands=[{"op": "play", "id": dialog.sid}], note=f"ACK: {dialog.channel}")

    def bye(self, request: SipRequest) -> Result:
        dialog = self.dialogs.pop(request.header("Call-ID") or "", None)
        if dialog is None:
            return Result([response_to(request, 481, "Call/Transaction Does Not Exist")])
        return Result([response_to(request, 200, "OK")], [{"op": "close", "id": dialog.sid}],
                      note=f"BYE: {dialog.channel}")

    def cancel(self, request: SipRequest) -> Result:
        dialog = self.dialogs.get(request.header("Call-ID") or "")
        if dialog is None or dialog.state != "offered":
            return Result([response_to(request, 481, "Call/Transaction Does Not Exist")])
        del self.dialogs[dialog.call_id]
        return Result([response_to(request, 200, "OK"),
                       response_to(dialog.invite, 487, "Request Terminated", dialog.local_tag)],
                      [{"op": "close", "id": dialog.sid}], note=f"CANCEL: {dialog.channel}")

    def event(self, event: dict[str, Any]) -> Dialog | None:
        """A recorder event; returns the dialog that ended, if one did."""
        if event.get("event") == "recorder_gone":
            self.dialogs.clear()
            return None
        dialog = next((d for d in self.dialogs.values() if d.sid == event.get("id")), None)
        if dialog is None:
            return None
        if event.get("event") == "playing":
            dialog.first_packet_ms = event.get("first_packet_ms")
            return None
        if event.get("event") == "finished":  # history sent: MediaStatus, then the BYE
            dialog.state = "finished"
            return dialog
        if event.get("event") == "ended":
            del self.dialogs[dialog.call_id]
            return dialog
        return None

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Close sessions whose ACK never came."""
        stale = [d for d in self.dialogs.values()
                 if d.state == "offered" and now - d.created > ACK_TIMEOUT_S]
        for dialog in stale:
            del self.dialogs[dialog.call_id]
        return [{"op": "close", "id": d.sid} for d in stale]

    def listing(self) -> list[dict[str, Any]]:
        """Every session, for status.json and health."""
        return [{"id": d.sid, "platform": d.platform, "channel": d.channel, "kind": d.offer.kind,
                 "transport": d.offer.transport, "state": d.state, "ssrc": d.offer.ssrc,
                 "first_packet_ms": d.first_packet_ms, "started_ts": d.started_ts}
                for d in list(self.dialogs.values())]

    def status(self, platform: str) -> dict[str, int]:
        mine = [d for d in self.dialogs.values() if d.platform == platform]
        return {"live_sessions": sum(1 for d in mine if d.offer.kind == "Play"),
                "playback_sessions": sum(1 for d in mine if d.offer.kind != "Play")}

    def _ok(self, request: SipRequest, dialog: Dialog, local_address: str) -> SipResponse:
        body = answer(dialog.offer, dialog.channel, local_address, dialog.local_port).encode()
        ok = response_to(request, 200, "OK", dialog.local_tag)
        ok = with_header(ok, "Contact", f"<sip:{dialog.channel}@{local_address}>")
        ok = with_header(ok, "Content-Type", "APPLICATION/SDP")
        return SipResponse(ok.status, ok.reason, ok.headers, body)

    def _port(self) -> int:
        first, last = self.ports
        used = {d.local_port for d in self.dialogs.values()} | self.held
        for _ in range(last - first + 1):
            port = first + self._next_port % (last - first + 1)
            self._next_port += 1
            if port not in used:
                return port
        # video: cannot happen (max_sessions <= ports); a broadcast is refused with it
        raise RuntimeError("no free RTP port")


def _user(uri: str) -> str:
    match = re.match(r"sips?:([^@;>]+)@", uri)
    return match.group(1) if match else ""


def _tag(header: str) -> str:
    match = re.search(r";\s*tag=([^;\s]+)", header)
    return match.group(1) if match else ""
