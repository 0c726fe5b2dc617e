"""GB/T 28181 voice broadcast (语音广播): the node's side of WVP's flow (gb28181.md 3.11).
Pure.

The platform's MESSAGE Notify/Broadcast names its SourceID and our TargetID (a speaker,
type 137). We answer with a Response (Result OK or ERROR), then INVITE the platform for
the audio: From the node (WVP looks the device up by it), Subject "SourceID:0,TargetID:0"
(WVP takes the channel from its second ID and answers 400 without it), an SDP offering
G.711 (or PS) with our address in o= and c= (WVP sends to o=). Its 200 OK says where the
audio comes from; we ACK, the receiver plays, and either side ends it with BYE.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from edge.gb28181.manscdp import render
from edge.gb28181.media.sdp import AudioAnswer, SdpError, audio_offer, parse_audio_answer
from edge.gb28181.sip.message import SipRequest, SipResponse, response_to

INVITE_TIMEOUT_S = 32.0  # Timer B: the platform never answered our INVITE


@dataclass(frozen=True, slots=True)
class Caller:
    """How the node is reached, towards one platform."""

    node_id: str
    domain: str
    local_host: str  # SIP
    local_port: int
    transport: str  # "UDP" or "TCP" (SIP; the audio follows it)
    media_address: str  # o=/c= of our offer


@dataclass
class Call:
    call_id: str
    platform: str
    source_id: str  # the platform's broadcast source
    target_id: str  # our speaker
    port: int  # where we receive (UDP) or 0 (TCP: we connect)
    invite: SipRequest
    started: float
    ssrc: int = 0  # our offer's y=: the platform's audio carries it
    state: str = "inviting"  # inviting -> up -> ended
    ok: SipResponse | None = None
    cseq: int = 1


@dataclass(frozen=True, slots=True)
class Answered:
    call: Call
    audio: AudioAnswer
    ack: SipRequest


@dataclass(frozen=True, slots=True)
class Refused:
    call: Call
    reason: str
    ack: SipRequest | None  # a non-2xx final is ACKed in its transaction; a bad 200 too


def response_body(sn: int, target_id: str, ok: bool, charset: str) -> bytes:
    return render("Response", "Broadcast", sn, target_id, [("Result", "OK" if ok else "ERROR")],
                  charset=charset)


def ssrc_for(node_id: str, seq: int) -> str:
    """y= as GB/T 28181 builds it: 0 (real time), digits 4-8 of the ID, a sequence."""
    return f"0{node_id[3:8]}{seq % 10000:04d}"


@dataclass
class Broadcasts:
    rng: random.Random = field(default_factory=random.Random)
    calls: dict[str, Call] = field(default_factory=dict)  # by Call-ID
    _seq: int = 0

    def start(self, caller: Caller, platform: str, source_id: str, target_id: str,
              port: int, now: float) -> Call:
        self._seq += 1
        tcp = caller.transport == "TCP"
        ssrc = ssrc_for(caller.node_id, self._seq)
        body = audio_offer(caller.node_id, caller.media_address, port, ssrc, tcp)
        call_id = f"{self._token()}@{caller.local_host}"
        headers = (
            ("Via", f"SIP/2.0/{caller.transport} {caller.local_host}:{caller.local_port};"
                    f"rport;branch=z9hG4bK{self._token()}"),
            ("From", f"<sip:{caller.node_id}@{caller.domain}>;tag={self._token()}"),
            ("To", f"<sip:{source_id}@{caller.domain}>"),
            ("Call-ID", call_id), ("CSeq", "1 INVITE"), ("Max-Forwards", "70"),
            ("Contact", f"<sip:{caller.node_id}@{caller.local_host}:{caller.local_port}>"),
            ("Subject", f"{source_id}:0,{target_id}:0"), ("User-Agent", "edge"),
            ("Content-Type", "APPLICATION/SDP"))
        invite = SipRequest("INVITE", f"sip:{source_id}@{caller.domain}", headers, body)
        call = Call(call_id, platform, source_id, target_id, port, invite, now, int(ssrc))
        self.calls[call_id] = call
        return call

    def response(self, response: SipResponse) -> Answered | Refused | SipRequest | None:
        """A response to one of our INVITEs: Answered (ACK it, play), Refused (ACK,
        end), an ACK again for a retransmitted 200 OK, or None (provisional, unknown)."""
        call = self.calls.get(response.header("Call-ID") or "")
        cseq = (response.header("CSeq") or "").split()
        if call is None or cseq[-1:] != ["INVITE"] or response.status < 200:
            return None
        if call.state != "inviting":
            return self._ack(call, response) if 200 <= response.status < 300 else None
        if response.status >= 300:
            del self.calls[call.call_id]
            call.state = "ended"
            return Refused(call, f"{response.status} {response.reason}",
                           self._ack(call, response))
        call.ok = response
        try:
            audio = parse_audio_answer(response.body.decode("utf-8", "replace"))
        except SdpError as exc:
            call.state = "up"  # the dialog exists: ACK it, then BYE
            return Refused(call, f"the answer's SDP: {exc}", self._ack(call, response))
        if not {0, 8, 96} & set(audio.payload_types):
            call.state = "up"
            return Refused(call, f"audio payload types {audio.payload_types} are not G.711 "
                                 "or PS", self._ack(call, response))
        call.state = "up"
        return Answered(call, audio, self._ack(call, response))

    def bye(self, request: SipRequest) -> tuple[SipResponse, Call | None]:
        """The platform ends the broadcast."""
        call = self.calls.pop(request.header("Call-ID") or "", None)
        if call is None:
            return response_to(request, 481, "Call/Transaction Does Not Exist"), None
        call.state = "ended"
        return response_to(request, 200, "OK"), call

    def hang_up(self, call_id: str) -> tuple[Call | None, SipRequest | None]:
        """We end it (silence, the speaker taken or failed): a BYE if the dialog is up."""
        call = self.calls.pop(call_id, None)
        if call is None:
            return None, None
        was_up, call.state = call.state == "up", "ended"
        if not was_up or call.ok is None:
            return call, None
        call.cseq += 1
        return call, self._in_dialog(call, "BYE", call.cseq, call.ok)

    def expire(self, now: float) -> list[Call]:
        """INVITEs never answered: forgotten (the platform gave up on its broadcast)."""
        late = [c for c in self.calls.values()
                if c.state == "inviting" and now - c.started >= INVITE_TIMEOUT_S]
        for call in late:
            del self.calls[call.call_id]
            call.state = "ended"
        return late

    def _ack(self, call: Call, response: SipResponse) -> SipRequest:
        if response.status >= 300:  # in the INVITE's transaction: its Via, its branch
            headers = tuple((k, v) for k, v in call.invite.headers
                            if k in ("Via", "From", "Call-ID", "Max-Forwards"))
            return SipRequest("ACK", call.invite.uri, headers + (
                ("To", response.header("To") or ""), ("CSeq", "1 ACK")))
        return self._in_dialog(call, "ACK", 1, response)

    def _in_dialog(self, call: Call, method: str, cseq: int, ok: SipResponse) -> SipRequest:
        contact = re.search(r"<([^>]+)>", ok.header("Contact") or "")
        via = call.invite.header("Via") or ""
        headers = (
            ("Via", re.sub(r"branch=[^;]+", f"branch=z9hG4bK{self._token()}", via)),
            ("From", call.invite.header("From") or ""), ("To", ok.header("To") or ""),
            ("Call-ID", call.call_id), ("CSeq", f"{cseq} {method}"), ("Max-Forwards", "70"))
        return SipRequest(method, contact.group(1) if contact else call.invite.uri, headers)

    def _token(self) -> str:
        return f"{self.rng.getrandbits(48):012x}"
