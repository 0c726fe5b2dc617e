"""Talk (对讲, GB/T 28181 ``s=Talk``): the platform speaks with whoever stands at a camera.
The camera's microphone goes to the platform — its G.711 or AAC audio from the live tap
(the recorder's own pull of the camera, no second connection), as G.711 in raw RTP (no PS,
as WVP asks) — and what the platform sends back plays on the loudspeakers beside that camera
(``[[speakers]] camera = ...``).

One thread per session, started by the SIP runner once the dialog is offered (its
sockets are bound before the 200 OK), sending from the ACK, until the platform's BYE, the
camera's tap ending, or the connection closing; its end is reported once to ``on_end``.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from pathlib import Path
from typing import Any, Callable

from edge.gb28181.media.audio import AudioDepacketizer, AudioError
from edge.gb28181.media.mic import Microphone
from edge.gb28181.media.rtp import Packetizer, TcpDeframer, frame_tcp
from edge.ingest.media import Frame, StreamInfo
from edge.runner import survive
from edge.stream.tap import TapError, TapReader
from edge.voice import g711
from edge.voice.service import Playout
from edge.voice.speaker import Claim, Speaker

logger = logging.getLogger(__name__)

ACK_WAIT_S = 35.0  # the SIP side closes an unacknowledged session after 32 s
CONNECT_S = 5.0
SAMPLES_PER_PACKET = 160  # 20 ms of G.711


class TalkSession(threading.Thread):
    def __init__(self, command: dict[str, Any], platform: str, data_dir: Path,
                 claims: list[tuple[Speaker, Claim]],
                 on_end: Callable[[str, str], None]) -> None:
        self.sid, self.channel = str(command["id"]), str(command["channel"])
        self.platform = platform
        super().__init__(daemon=True, name=f"talk-{self.channel}")
        self.transport, self.pt = str(command["transport"]), int(command["pt"])
        self.remote = (str(command["address"]), int(command["port"]))
        self.local_port = int(command["local_port"])
        self.ssrc = int(command["ssrc"])
        self.data_dir, self.claims, self.on_end = data_dir, claims, on_end
        self.started = threading.Event()  # the ACK came
        self.stopped = threading.Event()
        self.reason = ""
        self.sent_packets = self.heard_packets = 0
        self._sock: socket.socket | None = None
        self._listener: socket.socket | None = None

    def prepare(self) -> None:
        """Bind now, before the 200 OK names our port. Raises OSError."""
        if self.transport == "udp":
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.bind(("0.0.0.0", self.local_port))
        elif self.transport == "tcp-passive":  # the platform connects to us
            self._listener = socket.create_server(("0.0.0.0", self.local_port))

    def play(self) -> None:
        self.started.set()

    def stop(self, reason: str) -> None:
        if not self.stopped.is_set():
            self.reason = reason
            self.stopped.set()

    def run(self) -> None:
        try:
            if not self.started.wait(ACK_WAIT_S) or self.stopped.is_set():
                self.stop(self.reason or "no ACK")
            else:
                self._connect()
                threading.Thread(target=self._hear, daemon=True,
                                 name=f"talk-in-{self.channel}").start()
                self._speak()
        except OSError as exc:
            self.stop(f"talk connection failed: {exc}")
        finally:
            self.stop(self.reason or "ended")
            for sock in (self._sock, self._listener):
                if sock is not None:
                    sock.close()
            logger.info("platform=%s channel=%s talk %s ended: %s (%d packets sent, %d "
                        "heard)", self.platform, self.channel, self.sid, self.reason, self.sent_packets,
                        self.heard_packets)
            self.on_end(self.sid, self.reason)

    def _connect(self) -> None:
        if self.transport == "tcp-active":  # the platform listens (WVP: a=setup:passive)
            self._sock = socket.create_connection(self.remote, CONNECT_S)
        elif self._listener is not None:
            self._listener.settimeout(CONNECT_S)
            self._sock, _ = self._listener.accept()

    def _send(self, packet: bytes) -> None:
        assert self._sock is not None
        if self.transport == "udp":
            self._sock.sendto(packet, self.remote)
        else:
            self._sock.sendall(frame_tcp(packet))
        self.sent_packets += 1

    def _speak(self) -> None:
        """The camera's microphone to the platform, from its live tap."""
        rtp = Packetizer(self.ssrc, payload_type=self.pt)
        mic: Microphone | None = None
        timestamp = 0
        reader = TapReader(self.data_dir, self.channel, timeout_s=1.0)
        buf = b""
        try:
            while not self.stopped.is_set():
                try:
                    for kind, item in reader.records():
                        if self.stopped.is_set():
                            break
                        if kind == "info" and isinstance(item, StreamInfo):
                            mic = self._microphone(item)
                        elif kind == "frame" and isinstance(item, Frame) and not item.video \
                                and mic is not None:
                            buf += self._payload(mic, item.data)
                            while len(buf) >= SAMPLES_PER_PACKET:
                                chunk, buf = buf[:SAMPLES_PER_PACKET], buf[SAMPLES_PER_PACKET:]
                                self._send(rtp.packets(chunk, timestamp)[0])
                                timestamp += SAMPLES_PER_PACKET
                        elif kind in ("gone", "error"):
                            mic = None  # the camera went away: it comes back with "info"
                    return self.stop("the camera's live tap closed")
                except TimeoutError:
                    continue  # a camera without audio sends only video: keep waiting
        except TapError as exc:
            self.stop(f"the camera's live tap: {exc}")
        finally:
            reader.close()

    def _microphone(self, info: StreamInfo) -> Microphone | None:
        try:
            return Microphone(info, "pcma" if self.pt == 8 else "pcmu")
        except AudioError as exc:
            logger.warning("platform=%s channel=%s talk: %s: the platform hears nothing",
                           self.platform, self.channel, exc)
            return None

    def _payload(self, mic: Microphone, frame: bytes) -> bytes:
        try:
            return mic.payload(frame)
        except AudioError as exc:  # one bad frame: a gap, the talk goes on
            logger.debug("platform=%s channel=%s talk: %s", self.platform, self.channel, exc)
            return b""

    def _hear(self) -> None:
        """What the platform says, to the loudspeakers beside the camera (if any)."""
        depacketizer = AudioDepacketizer()
        deframer = TcpDeframer()
        playout = Playout(self.claims, f"talk {self.sid}") if self.claims else None
        try:
            while not self.stopped.is_set() and self._sock is not None:
                readable, _, _ = select.select([self._sock], [], [], 0.5)
                if not readable:
                    continue
                data = self._sock.recv(65_535)
                if not data and self.transport != "udp":
                    return self.stop("the platform closed the talk connection")
                for packet in [data] if self.transport == "udp" else deframer.feed(data):
                    with survive(logger, "channel=%s talk packet", self.channel):
                        self.heard_packets += 1
                        for chunk in _quietly(depacketizer, packet, self.channel):
                            if playout is not None:
                                playout.feed(g711.decode(chunk.codec, chunk.payload))
        except OSError as exc:
            self.stop(f"talk connection: {exc}")
        finally:
            if playout is not None:
                playout.close(self.reason or "talk ended")
            for speaker, claim in self.claims:
                speaker.release(claim, self.reason or "talk ended")


def _quietly(depacketizer: AudioDepacketizer, packet: bytes, channel: str) -> list[Any]:
    try:
        return depacketizer.feed(packet)
    except AudioError as exc:
        logger.debug("channel=%s talk: %s", channel, exc)
        return []

