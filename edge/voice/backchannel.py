"""A camera's own audio output as a loudspeaker (ONVIF Profile T backchannel): one RTSP
session over the camera's own URL — DESCRIBE and SETUP with ``Require:
www.onvif.org/ver20/backchannel``, digest authentication as the camera asks, PLAY — then
G.711 RTP interleaved on that TCP connection (it works behind the 4G NAT and through the
camera's one RTSP port), paced in real time like a sound card. The protocol's parsing is
pure (edge/onvif/rtsp.py); this is the thin I/O around it."""

from __future__ import annotations

import logging
import random
import select
import socket
import struct
import time
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np

from edge.digest import Challenge, authorization, parse_challenge
from edge.errors import ProtocolError
from edge.onvif.rtsp import Reader, Response, Track, backchannel_track, interleaved, \
    request, session_id
from edge.voice import g711
from edge.voice.speaker import RATE, SpeakerError, at_volume

logger = logging.getLogger(__name__)

TIMEOUT_S = 5.0
PACKET = 160  # samples: 20 ms of G.711
LEAD_S = 0.2  # sent at most this far ahead of the clock (the camera's jitter buffer)
KEEPALIVE_S = 20.0  # RTSP sessions time out after 60 s by default
TAIL_S = 1.0  # after the last packet is due: the camera's jitter buffer plays out


class BackchannelOutput:
    """G.711 to one camera's audio output; paced by the wall clock."""

    def __init__(self, url: str, camera: str) -> None:
        self.camera = camera
        parts = urlsplit(url)
        self.user, self.password = unquote(parts.username or ""), unquote(parts.password or "")
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        self.url = urlunsplit((parts.scheme, netloc + (f":{parts.port}" if parts.port else ""),
                               parts.path, parts.query, ""))
        self.reader = Reader()
        self.cseq = 0
        self.challenge: Challenge | None = None
        try:
            self.sock = socket.create_connection((host, parts.port or 554), TIMEOUT_S)
        except (OSError, ValueError) as exc:
            raise self._error(f"cannot connect: {exc}") from None
        try:
            self.track, self.session = self._start()
        except (OSError, ProtocolError) as exc:
            self.sock.close()
            raise self._error(str(exc)) from None
        self.seq, self.timestamp = random.randrange(1 << 16), random.randrange(1 << 32)
        self.ssrc = random.randrange(1, 1 << 32)
        self.pending = np.zeros(0, np.int16)
        self.started = time.monotonic()
        self.sent = 0  # samples
        self.kept_alive = self.started
        logger.info("speaker camera=%s backchannel open (%s, PT %d)", camera,
                    self.track.codec, self.track.payload_type)

    def _start(self) -> tuple[Track, str]:
        described = self._ask("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = described.header("content-base") or self.url
        track = backchannel_track(described.body.decode("utf-8", "replace"), base)
        setup = self._ask("SETUP", track.control,
                          {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        session = session_id(setup)
        self._ask("PLAY", base, {"Session": session, "Range": "npt=0.000-"})
        return track, session

    def _ask(self, method: str, url: str, headers: dict[str, str]) -> Response:
        for _ in range(2):  # the second time with the credentials the camera asked for
            self.cseq += 1
            extra = dict(headers)
            if self.challenge is not None:
                extra["Authorization"] = authorization(self.challenge, self.user,
                                                       self.password, method, url)
            self.sock.sendall(request(method, url, self.cseq, extra))
            response = self._response()
            if response.status == 401 and self.challenge is None and self.user:
                self.challenge = parse_challenge(response.header("www-authenticate"))
                continue
            if response.status == 551:  # RFC 2326: a Require it does not know
                raise ProtocolError("no audio output: the camera does not take ONVIF's "
                                    "backchannel (551 Option not supported)")
            if response.status != 200:
                raise ProtocolError(f"{method} answered {response.status} {response.reason}"
                                    + (" (wrong user or password?)" if response.status == 401
                                       else ""))
            return response
        raise ProtocolError(f"{method}: the camera refused the credentials")

    def _response(self) -> Response:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for item in self.reader.feed(b""):
                if isinstance(item, Response):
                    return item
            if time.monotonic() > deadline:
                raise ProtocolError("no answer")
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError("the camera closed the connection")
            for item in self.reader.feed(data):
                if isinstance(item, Response):
                    return item

    def write(self, samples: np.ndarray, volume: int = 100) -> None:
        """``samples`` (int16, 8 kHz) to the camera, in 20-ms packets, at most LEAD_S ahead
        of the clock (so a higher-priority voice is not queued behind seconds of this)."""
        self.pending = np.concatenate([self.pending, at_volume(samples, volume)])
        try:
            self._send_whole_packets()
            self._drain()
            if time.monotonic() - self.kept_alive > KEEPALIVE_S:
                self.kept_alive = time.monotonic()
                self.cseq += 1
                self.sock.sendall(request("GET_PARAMETER", self.url, self.cseq,
                                          {"Session": self.session}))
        except (OSError, ProtocolError) as exc:
            raise self._error(f"sending failed: {exc}") from None

    def _send_whole_packets(self) -> None:
        while self.pending.size >= PACKET:
            chunk, self.pending = self.pending[:PACKET], self.pending[PACKET:]
            header = struct.pack(">BBHII", 0x80, self.track.payload_type, self.seq,
                                 self.timestamp, self.ssrc)
            self.sock.sendall(interleaved(0, header + g711.encode(self.track.codec, chunk)))
            self.seq = (self.seq + 1) & 0xFFFF
            self.timestamp = (self.timestamp + PACKET) & 0xFFFFFFFF
            self.sent += PACKET
            ahead = self.sent / RATE - (time.monotonic() - self.started)
            if ahead > LEAD_S:
                time.sleep(ahead - LEAD_S)

    def _drain(self) -> None:
        """What the camera sends meanwhile (RTCP, keep-alive answers) read and dropped."""
        while select.select([self.sock], [], [], 0)[0]:
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError("the camera closed the connection")
            self.reader.feed(data)

    def close(self) -> None:
        """The last part packet padded with silence, the camera given the time to play
        what it has, then TEARDOWN."""
        try:
            if self.pending.size:
                self.pending = np.concatenate([self.pending,
                                               np.zeros(PACKET - self.pending.size, np.int16)])
                self._send_whole_packets()
            time.sleep(max(0.0, self.sent / RATE - (time.monotonic() - self.started)) + TAIL_S)
            self.cseq += 1
            self.sock.sendall(request("TEARDOWN", self.url, self.cseq, {"Session": self.session}))
        except OSError as exc:
            logger.info("speaker camera=%s backchannel teardown: %s", self.camera, exc)
        finally:
            self.sock.close()

    def _error(self, what: str) -> SpeakerError:
        return SpeakerError(f"摄像机喇叭不可用 camera {self.camera} audio output: {what}")
