"""SDP offers from an upper platform and our answers (GB/T 28181 9.2, the digest's 4.x). Pure.

An offer names what to send (s=Play/Playback/Download), which channel (u= or the
Request-URI), when (t= in Unix seconds for history), where (c=, m= port), how (RTP/AVP
over UDP, TCP/RTP/AVP with a=setup:active|passive), the SSRC (y=, used verbatim), the
download speed and the stream (a=streamnumber / vendor a=stream: 0 main, 1 sub).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.digits import is_digits, parse_uint
from edge.errors import ProtocolError

NTP_UNIX_OFFSET = 2_208_988_800  # some platforms send NTP-epoch t= values
KINDS = ("Play", "Playback", "Download", "Talk")  # Talk (对讲): G.711 both ways, no PS
MAX_DOWNLOAD_SPEED = 16  # WVP offers 1..8; more would only burn the uplink


class SdpError(ProtocolError):
    """An offer we cannot serve; the runner answers 488 with this reason."""


@dataclass(frozen=True, slots=True)
class Offer:
    kind: str  # Play, Playback, Download or Talk
    channel: str | None  # from u=, if present
    address: str  # where to send (c=)
    port: int
    transport: str  # "udp", "tcp-active" (we connect) or "tcp-passive" (we listen)
    payload_type: int  # the PT the offer gives PS/90000 (96 by default); Talk: 8 or 0
    ssrc: str  # the y= digits, verbatim
    start: float  # history: Unix seconds; live: 0
    end: float
    speed: int  # Download: a=downloadspeed; 1 otherwise
    stream: int  # 0 main stream, 1 sub stream


def _fields(text: str) -> dict[str, list[str]]:
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if "=" in line]
    fields: dict[str, list[str]] = {}
    for line in lines:
        key, _, value = line.partition("=")
        fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def parse_offer(text: str) -> Offer:
    fields = _fields(text)
    kind = _one(fields, "s") or "Play"
    if kind not in KINDS:
        raise SdpError(f"s={kind[:20]} is not Play, Playback, Download or Talk")
    parts, port = _media_line(fields, "audio" if kind == "Talk" else "video")
    proto = parts[2].upper()
    attrs = {a.split(":", 1)[0]: (a.split(":", 1)[1] if ":" in a else "")
             for a in fields.get("a", [])}
    if proto == "RTP/AVP":
        transport = "udp"
    elif proto in ("TCP/RTP/AVP", "RTP/AVP/TCP"):
        setup = attrs.get("setup", "passive").lower()
        # the platform's role: passive = it listens, so we connect (and the reverse)
        transport = {"passive": "tcp-active", "active": "tcp-passive"}.get(setup, "")
        if not transport:
            raise SdpError(f"a=setup:{setup} is neither active nor passive")
    else:
        raise SdpError(f"transport {parts[2]} is not RTP/AVP or TCP/RTP/AVP")
    address = _address(_one(fields, "c") or "")
    ssrc = (_one(fields, "y") or "").strip()
    if not (is_digits(ssrc) and len(ssrc) == 10 and int(ssrc) < 2**32):
        raise SdpError(f"y={ssrc!r} is not a 10-digit SSRC" if ssrc else "the offer has no y= SSRC")
    start, end = _times(_one(fields, "t") or "0 0", kind)
    u = _one(fields, "u")
    stream = attrs.get("streamnumber", attrs.get("stream", "0"))
    speed = attrs.get("downloadspeed", "1")
    if kind == "Talk":  # raw G.711 both ways: PCMA where offered, else PCMU
        formats = set(parts[3:])
        if not formats & {"8", "0"}:
            raise SdpError(f"Talk offers {' '.join(parts[3:])[:40]}: not G.711 (8 or 0)")
        payload_type = 8 if "8" in formats else 0
    else:
        payload_type = _ps_payload_type(fields.get("a", []))
    return Offer(kind, u.split(":")[0] if u else None, address, port, transport,
                 payload_type, ssrc, start, end,
                 _speed(speed),
                 1 if stream.strip() == "1" else 0)


def answer(offer: Offer, local_id: str, local_address: str, local_port: int) -> str:
    """Our 200 OK body: we send PS on ``local_port`` (UDP source, or our TCP port)."""
    proto = "RTP/AVP" if offer.transport == "udp" else "TCP/RTP/AVP"
    lines = ["v=0", f"o={local_id} 0 0 IN IP4 {local_address}", f"s={offer.kind}",
             f"c=IN IP4 {local_address}",
             f"t={int(offer.start)} {int(offer.end)}" if offer.kind not in ("Play", "Talk")
             else "t=0 0"]
    if offer.kind == "Talk":
        codec = "PCMA" if offer.payload_type == 8 else "PCMU"
        lines += [f"m=audio {local_port} {proto} {offer.payload_type}", "a=sendrecv",
                  f"a=rtpmap:{offer.payload_type} {codec}/8000"]
    else:
        lines += [f"m=video {local_port} {proto} {offer.payload_type}", "a=sendonly",
                  f"a=rtpmap:{offer.payload_type} PS/90000"]
    if offer.transport != "udp":
        lines += [f"a=setup:{'active' if offer.transport == 'tcp-active' else 'passive'}",
                  "a=connection:new"]
    lines += [f"y={offer.ssrc}", "f=v/////a/1/8/1" if offer.kind == "Talk" else "f="]
    return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True, slots=True)
class AudioAnswer:
    """The platform's answer to our broadcast INVITE: where its audio comes from."""

    address: str
    port: int
    tcp: bool  # TCP/RTP/AVP: we connect to address:port (we offered a=setup:active)
    payload_types: tuple[int, ...]


def audio_offer(local_id: str, address: str, port: int, ssrc: str, tcp: bool) -> bytes:
    """Our INVITE body for a broadcast (gb28181.md 3.11): we receive G.711 on ``port``.
    WVP sends its audio to the o= address, so o= and c= both carry ours."""
    proto = "TCP/RTP/AVP" if tcp else "RTP/AVP"
    lines = ["v=0", f"o={local_id} 0 0 IN IP4 {address}", "s=Play", f"c=IN IP4 {address}",
             "t=0 0", f"m=audio {port} {proto} 8 0 96", "a=recvonly", "a=rtpmap:8 PCMA/8000",
             "a=rtpmap:0 PCMU/8000", "a=rtpmap:96 PS/90000"]
    if tcp:  # we connect (the box is behind the 4G NAT): the platform listens
        lines += ["a=setup:active", "a=connection:new"]
    lines += [f"y={ssrc}", "f=v/////a/1/8/1"]
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_audio_answer(text: str) -> AudioAnswer:
    fields = _fields(text)
    parts, port = _media_line(fields, "audio")
    proto = parts[2].upper()
    if proto not in ("RTP/AVP", "TCP/RTP/AVP", "RTP/AVP/TCP"):
        raise SdpError(f"transport {parts[2][:30]} is not RTP/AVP or TCP/RTP/AVP")
    types = tuple(int(p) for p in parts[3:] if is_digits(p) and len(p) <= 3 and int(p) < 128)
    if not types:
        raise SdpError("m=audio names no payload type")
    address = _address(_one(fields, "c") or "")
    return AudioAnswer(address, port, proto != "RTP/AVP", types)


def _media_line(fields: dict[str, list[str]], wanted: str) -> tuple[list[str], int]:
    """The first m=``wanted`` line, split (at least: media, port, proto, one format), and
    its port."""
    media = [m for m in fields.get("m", []) if m.startswith(wanted)]
    if not media:
        raise SdpError(f"no m={wanted} line")
    parts = media[0].split()
    if len(parts) < 4:
        raise SdpError(f"m= line {media[0][:60]!r} has no port or format")
    port = parse_uint(parts[1].split("/")[0], "m= port", SdpError)
    if not 0 < port < 65536:
        raise SdpError(f"m= port {port} is invalid")
    return parts, port


def _one(fields: dict[str, list[str]], key: str) -> str | None:
    values = fields.get(key)
    return values[0] if values else None


def _address(c: str) -> str:
    parts = c.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"c={c!r} is not an IN IP4 address")
    return parts[2].split("/")[0]


def _times(t: str, kind: str) -> tuple[float, float]:
    parts = t.split()
    if len(parts) != 2 or not all(is_digits(p) and len(p) <= 12 for p in parts):
        raise SdpError(f"t={t[:60]!r} is not two numbers")
    start, end = (int(p) - NTP_UNIX_OFFSET if int(p) > 3e9 else int(p) for p in parts)
    if kind in ("Playback", "Download") and not 0 < start < end:
        raise SdpError(f"t={t!r}: {kind} needs a start before its end")
    return float(start), float(end)


def _ps_payload_type(attrs: list[str]) -> int:
    """The PT mapped to PS/90000 (96, GB/T 28181's usual one, when none is)."""
    for attr in attrs:
        if attr.lower().startswith("rtpmap:") and "PS/90000" in attr.upper():
            pt = (attr.split(":", 1)[1].split() or [""])[0]
            if is_digits(pt) and int(pt) < 128:
                return int(pt)
    return 96


def _speed(text: str) -> int:
    """a=downloadspeed: 1..MAX_DOWNLOAD_SPEED; anything else plays at 1."""
    text = text.strip()
    if is_digits(text) and len(text) <= 3:
        return min(max(int(text), 1), MAX_DOWNLOAD_SPEED)
    return 1
