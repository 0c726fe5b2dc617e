"""One broadcast's audio: RTP from the platform (UDP on our port, or TCP to its port) to
a speaker, until the platform stops, falls silent or the speaker is taken.

A thread per session; every packet is one unit of work: a bad one is logged and dropped,
the session goes on. Its end is reported once, with the reason, to ``on_end``.

Over UDP the box, often behind a 4G NAT, sends small empty RTP packets from its port to
the platform's (symmetric RTP, as ZLMediaKit's UDP-passive sender waits for: it sends to
where they came from): often until the audio comes, then now and then to keep the NAT's
mapping open.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from edge.gb28181.media.rtp import Packetizer, TcpDeframer
from edge.runner import survive
from edge.voice import g711
from edge.gb28181.media.audio import AudioDepacketizer, AudioError
from edge.voice.speaker import Claim, Speaker, SpeakerError

logger = logging.getLogger(__name__)

FIRST_AUDIO_S = 15.0  # from the ACK: the platform's media server starts its push
SILENCE_S = 20.0  # a broadcast whose sender stopped without a BYE
MAX_BAD_PACKETS = 50  # in a row: the sender sends something that is not our audio
TCP_CONNECT_S = 5.0
PUNCH_S = 0.5  # an empty RTP packet to the platform's port, until its audio comes
KEEP_OPEN_S = 10.0  # then: NATs drop a UDP mapping without outgoing packets in 30 s or more


@dataclass(frozen=True, slots=True)
class Punch:
    """Where the platform's audio comes from (its answer's c=/m=), and our y= SSRC."""

    address: str
    port: int
    ssrc: int


class AudioReceiver(threading.Thread):
    def __init__(self, session: str, speaker: Speaker, claim: Claim,
                 on_end: Callable[[str, str], None], udp: socket.socket | None = None,
                 tcp_target: tuple[str, int] | None = None,
                 punch: Punch | None = None) -> None:
        super().__init__(daemon=True, name=f"voice-{speaker.cfg.id}")
        self.session, self.speaker, self.claim = session, speaker, claim
        self.on_end = on_end
        self.udp, self.tcp_target, self.punch = udp, tcp_target, punch
        self.punches = 0
        self._punch_rtp = Packetizer(punch.ssrc if punch else 0, 8)
        self.depacketizer = AudioDepacketizer()
        self.first_packet_at: float | None = None
        self.latency_ms: float | None = None  # first packet in -> its audio written out
        self.samples = 0
        self._bad = 0

    def stop(self, reason: str) -> None:
        self.claim.end(reason)

    def run(self) -> None:
        reason = "ended"
        sock = self.udp
        try:
            if sock is None:
                assert self.tcp_target is not None
                sock = socket.create_connection(self.tcp_target, TCP_CONNECT_S)
            reason = self._receive(sock)
        except OSError as exc:
            reason = f"audio connection failed: {exc}"
        finally:
            if sock is not None:
                sock.close()
            self.speaker.release(self.claim, reason)
            logger.info("speaker=%s session=%s ended: %s (%d samples, %d packets, %d dropped, "
                        "first audio %s ms after the first packet)", self.speaker.cfg.id,
                        self.session, reason, self.samples, self.depacketizer.packets,
                        self.depacketizer.dropped,
                        None if self.latency_ms is None else round(self.latency_ms))
            self.on_end(self.session, reason)

    def _receive(self, sock: socket.socket) -> str:
        deframer = TcpDeframer() if sock.type == socket.SOCK_STREAM else None
        last = time.monotonic()
        punched = float("-inf")
        while not self.claim.ended.is_set():
            if self.punch is not None and time.monotonic() - punched >= (
                    KEEP_OPEN_S if self.first_packet_at else PUNCH_S):
                punched = time.monotonic()
                self._punch(sock, self.punch)
            readable, _, _ = select.select([sock], [], [], PUNCH_S)
            now = time.monotonic()
            if not readable:
                limit = SILENCE_S if self.first_packet_at else FIRST_AUDIO_S
                if now - last >= limit:
                    return (f"no audio for {limit:.0f} s" if self.first_packet_at
                            else f"no audio within {limit:.0f} s of the answer")
                continue
            last = now
            data = sock.recv(65_535)
            if deframer is None:
                packets = [data]
            elif not data:
                return "the platform closed the audio connection"
            else:
                packets = deframer.feed(data)
            for packet in packets:
                with survive(logger, "speaker=%s session=%s audio packet", self.speaker.cfg.id,
                             self.session):
                    self._packet(packet, now)
            if self._bad >= MAX_BAD_PACKETS:
                return f"{self._bad} packets in a row were not audio we can play"
        return self.claim.reason

    def _punch(self, sock: socket.socket, punch: Punch) -> None:
        try:
            sock.sendto(self._punch_rtp.packets(b"", 0)[0], (punch.address, punch.port))
            self.punches += 1
        except OSError as exc:  # no route yet (the modem reconnecting): the next one may go
            if self.punches == 0:
                logger.warning("speaker=%s session=%s: cannot send to the platform's audio "
                               "port %s:%d: %s", self.speaker.cfg.id, self.session,
                               punch.address, punch.port, exc)

    def _packet(self, data: bytes, arrived: float) -> None:
        if self.first_packet_at is None:
            self.first_packet_at = arrived
        try:
            chunks = self.depacketizer.feed(data)
        except AudioError as exc:
            self._bad += 1
            if self._bad == 1:
                logger.warning("speaker=%s session=%s: %s", self.speaker.cfg.id, self.session,
                               exc)
            return
        self._bad = 0
        for chunk in chunks:
            samples = g711.decode(chunk.codec, chunk.payload)
            try:
                self.speaker.play(self.claim, samples)
            except SpeakerError:
                return  # the claim ended with the reason; the loop sees it
            self.samples += samples.size
            if self.latency_ms is None:
                self.latency_ms = (time.monotonic() - self.first_packet_at) * 1000
