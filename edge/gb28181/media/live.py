"""GB/T 28181 media sessions in the recorder process, fed by the live hub.

Each live session is a hub consumer with its own bounded queue, thread, RTP sequence and
socket (UDP from its fixed local port, TCP as client or server with RFC 4571 framing); it
muxes PS in its own thread, so a slow or dead platform never holds up recording: its
queue overflows, it skips to the next keyframe, and a broken connection ends only that
session. Playback and download sessions read recorded segments (playback.py).

Commands come from the supervisor's SIP runner as JSON lines (open, play, control, close);
events (opened, playing, finished, ended) go back on the recorder's status stream.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edge import faults
from edge.gb28181.media.ps import STREAM_TYPES, Streams, adts_header, audio_frame, video_frame
from edge.gb28181.media.rtp import Packetizer, frame_tcp
from edge.ingest.media import Frame, StreamInfo
from edge.stream.frames import FrameQueue
from edge.stream.hub import SUB, StreamHub

if TYPE_CHECKING:
    from edge.gb28181.media.playback import PlaybackSession

logger = logging.getLogger(__name__)

CLOCK = 90_000
CONNECT_TIMEOUT_S = 1.0
CONNECT_TRIES = 5
ACCEPT_TIMEOUT_S = 10.0
RECENT_TIMESTAMPS = 256  # a few seconds of audio and video frames
MAX_LAG_S = 2.0  # a live session this far behind the camera skips to the next keyframe
SUB_WAIT_S = 5.0  # a sub stream pulled on demand: how long ACK may wait for it
# UDP GSO (Linux >= 4.18): one sendmsg carries a frame's equal-sized RTP packets and the
# kernel cuts them into datagrams; a system call per frame instead of per packet
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
GSO_PACKETS = 40  # per call: 40 x 1412 bytes stays under the 64 KB datagram limit
GSO_UNSUPPORTED = (errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO)
TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)
TCP_UNSENT_BYTES = 64 * 1024  # ~0.25 s of a 2-Mbit/s main stream
Emit = Callable[[dict[str, Any]], None]


class GbMedia:
    """The media commands of the SIP runner, carried out against the hub."""

    def __init__(self, hub: StreamHub, emit: Emit, data_dir: Path) -> None:
        self.hub = hub
        self.emit = emit
        self.data_dir = data_dir  # for playback sessions
        self.lock = threading.Lock()
        self.sessions: dict[str, LiveSession | PlaybackSession] = {}

    def command(self, cmd: dict[str, Any]) -> None:
        op, sid = cmd.get("op"), str(cmd.get("id"))
        try:
            if op == "open":
                self._add(sid, cmd)
                # the SIP side answers 200 OK only now: our port is bound (and listening)
                self.emit({"media": {"id": sid, "event": "opened"}})
            elif op == "play":
                self._play(sid)
            elif op == "close":
                self.close(sid, "closed by the platform")
            elif op == "close_all":  # the SIP runner restarted: no dialog is left
                self.close_all("the SIP runner restarted")
            elif op == "control":
                session = self.sessions[sid]
                if isinstance(session, LiveSession):
                    raise ValueError("a live session takes no playback control")
                session.control(cmd)
            else:
                raise ValueError(f"unknown media command {op!r}")
        except Exception as exc:  # one command fails; the others and recording go on
            expected = isinstance(exc, (OSError, ValueError, KeyError))
            logger.warning("media session=%s %s failed: %s", sid, op, exc,
                           exc_info=not expected)
            if sid in self.sessions:
                self.close(sid, f"{op} failed: {exc}")
            else:  # never opened (e.g. its port is taken): the SIP side still needs to know
                self.emit({"media": {"id": sid, "event": "ended", "reason": f"{op} failed: {exc}"}})

    def _add(self, sid: str, cmd: dict[str, Any]) -> None:
        sender = Sender(cmd["transport"], cmd["address"], int(cmd["port"]),
                        int(cmd["local_port"]), int(cmd["ssrc"]), int(cmd.get("pt", 96)))
        session: LiveSession | PlaybackSession
        if cmd.get("kind", "Play") != "Play":
            from edge.gb28181.media.playback import PlaybackSession  # PyAV file reading

            session = PlaybackSession(
                sid, cmd["channel"], sender, self.data_dir, cmd["kind"], float(cmd["start"]),
                float(cmd["end"]), int(cmd.get("speed", 1)), self.emit)
        else:
            session = LiveSession(sid, cmd["channel"], int(cmd.get("stream", 0)), sender, self)
        with self.lock:
            self.sessions[sid] = session

    def _play(self, sid: str) -> None:
        with self.lock:
            session = self.sessions[sid]
        if isinstance(session, LiveSession):
            session.subscribe()
        else:
            session.start([])

    def close(self, sid: str, reason: str) -> None:
        with self.lock:
            session = self.sessions.pop(sid, None)
        if session is None:
            return
        session.stop()
        skipped = session.skipped
        logger.log(logging.WARNING if skipped else logging.INFO,
                   "media session=%s channel=%s ended: %s (%d bytes sent, %d frames skipped "
                   "while the platform fell behind)", sid, session.channel, reason,
                   session.bytes_sent, skipped)
        self.emit({"media": {"id": sid, "event": "ended", "reason": reason,
                             "bytes": session.bytes_sent}})

    def bytes_sent(self) -> dict[str, int]:
        """RTP bytes sent so far per session, for the status line."""
        with self.lock:
            return {sid: s.bytes_sent for sid, s in self.sessions.items()}

    def close_all(self, reason: str = "recorder stopping") -> None:
        for sid in list(self.sessions):
            self.close(sid, reason)


def ps_streams(info: StreamInfo) -> Streams:
    """The PS stream types for ``info`` (an audio codec PS cannot declare is left out)."""
    return Streams(info.video, info.audio if info.audio in STREAM_TYPES else None)


def mux(info: StreamInfo, video: bool, keyframe: bool, data: bytes, ts: int) -> bytes:
    """One frame as PS at 90-kHz time ``ts``."""
    if video:
        if keyframe and info.extradata and not _has_parameter_sets(data, info.video):
            data = info.extradata + data  # every IDR carries SPS/PPS(/VPS)
        return video_frame(ps_streams(info), data, ts, None, keyframe)
    if info.audio == "aac":
        data = adts_header(len(data), info.audio_rate, info.audio_channels) + data
    return audio_frame(data, ts)


def _has_parameter_sets(data: bytes, codec: str) -> bool:
    head = data[:256]
    if codec == "h264":
        return b"\x00\x00\x01\x67" in head or b"\x00\x00\x01\x27" in head
    return b"\x00\x00\x01\x40" in head  # HEVC VPS


class Sender:
    """One session's socket: UDP from its fixed local port, or TCP (we connect to the
    platform, or it connects to us) with RFC 4571 framing; RTP with its own sequence."""

    def __init__(self, transport: str, address: str, port: int, local_port: int, ssrc: int,
                 pt: int) -> None:
        if transport not in ("udp", "tcp-active", "tcp-passive"):
            raise ValueError(f"transport {transport!r}")
        self.transport = transport
        self.target = (address, port)
        self.rtp = Packetizer(ssrc, pt)
        self.bytes_sent = 0
        self.gso = transport == "udp"  # off for good after the kernel refuses it once
        self._used: set[int] = set()  # timestamps of the last frames sent
        self._order: deque[int] = deque()
        # bound now, before our answer names the port: the platform may connect at once
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", local_port))
        if transport == "tcp-passive":
            self.sock.listen(1)
        self.conn: socket.socket | None = None

    def connect(self) -> None:
        if self.transport == "udp":
            # connected, so an ICMP "port unreachable" (the platform closed its port) fails
            # the next send and ends the session instead of sending into the void
            self.sock.connect(self.target)
        if self.transport == "tcp-passive":
            self.sock.settimeout(ACCEPT_TIMEOUT_S)
            self.conn, _ = self.sock.accept()
        elif self.transport == "tcp-active":
            error: OSError | None = None
            for _ in range(CONNECT_TRIES):  # the platform opens its port around our 200 OK
                try:
                    self.sock.settimeout(CONNECT_TIMEOUT_S)
                    self.sock.connect(self.target)
                    self.conn = self.sock
                    break
                except OSError as exc:
                    error = exc
                    self.sock.close()
                    self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    time.sleep(0.2)
            if self.conn is None:
                raise error or OSError("cannot connect")
        if self.conn is not None:
            self.conn.settimeout(10.0)
            # little unsent data in the kernel (it would autotune to megabytes: a minute
            # of video on a slow 4G bearer): a link that falls behind blocks our send, the
            # session's queue overflows and skips to the next keyframe instead of lagging
            self.conn.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, TCP_UNSENT_BYTES)

    def send(self, ps: bytes, ts: int) -> None:
        # different frames, different timestamps (GB/T 28181-2022 4.3.6): an audio frame
        # can land on a tick a video frame already used; move it by 1/90000 s
        ts &= 0xFFFFFFFF
        while ts in self._used:
            ts = (ts + 1) & 0xFFFFFFFF
        self._used.add(ts)
        self._order.append(ts)
        if len(self._order) > RECENT_TIMESTAMPS:
            self._used.discard(self._order.popleft())
        packets = self.rtp.packets(ps, ts)
        if self.conn is not None:  # TCP: the whole frame in one call
            self.conn.sendall(b"".join(frame_tcp(p) for p in packets))
        else:
            for first in range(0, len(packets), GSO_PACKETS):
                self._send_udp(packets[first:first + GSO_PACKETS])
        self.bytes_sent += sum(len(p) for p in packets)

    def _send_udp(self, packets: list[bytes]) -> None:
        if self.gso and len(packets) > 1:  # all but the last have the full size
            try:
                self.sock.sendmsg([b"".join(packets)], [
                    (socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", len(packets[0])))])
                return
            except OSError as exc:
                if exc.errno not in GSO_UNSUPPORTED:
                    raise  # e.g. ICMP unreachable: the peer is gone
                self.gso = False
                logger.info("media: UDP GSO unavailable (%s); one send per packet", exc)
        for packet in packets:
            self.sock.send(packet)

    def close(self) -> None:
        for sock in (self.conn, self.sock):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass


class LiveSession:
    """A hub consumer sending one channel (main or sub stream) to one platform."""

    def __init__(self, sid: str, channel: str, stream: int, sender: Sender,
                 media: GbMedia) -> None:
        self.sid, self.channel, self.stream = sid, channel, stream
        self.sender = sender
        self.media = media
        self.queue: FrameQueue[Frame] = FrameQueue()
        self.info: StreamInfo | None = None
        self.key = channel
        self.playing = False
        self.started_at = 0.0
        self.stopped = threading.Event()
        self.backlog = 0
        self.catching_up = False

    @property
    def bytes_sent(self) -> int:
        return self.sender.bytes_sent

    @property
    def skipped(self) -> int:
        return self.queue.skipped

    def subscribe(self) -> None:
        """At ACK: tap the hub, starting with the cached GOP."""
        hub = self.media.hub
        self.key, info, gop = hub.subscribe(self.channel, self, self.stream)
        if info is None and self.key.endswith(SUB):  # pulled only now: still connecting
            info, gop = hub.wait_info(self.key, SUB_WAIT_S)
        if info is None:
            hub.unsubscribe(self.key, self)
            raise ValueError(f"camera {self.key} is offline")
        self.info = info
        self.start(gop)

    def start(self, backlog: list[Frame]) -> None:
        self.started_at = time.monotonic()
        backlog = backlog[-self.queue.max_items + 10:]
        self.backlog = len(backlog)  # the cached GOP is old by nature: not lag
        for frame in backlog:
            self.queue.offer(frame, frame.video and frame.keyframe)
        self.playing = True
        threading.Thread(target=self._run, name=f"media:{self.sid}", daemon=True).start()

    # -- as a hub consumer (camera thread) -------------------------------------------

    def offer(self, frame: Frame) -> None:
        self.queue.offer(frame, frame.video and frame.keyframe)

    def on_info(self, info: StreamInfo | None) -> None:
        if info is not None:
            self.info = info  # the camera reconnected: the next IDR carries the new PSM

    # -- its own thread -----------------------------------------------------------------

    def _late(self, frame: Frame) -> bool:
        """Whether to drop ``frame``: the link fell more than MAX_LAG_S behind the camera
        (a slow 4G bearer), so frames go until the next keyframe, and the picture jumps
        back to near real time instead of trailing further (the queue's own bound drops
        only when it is full, seconds later)."""
        if self.backlog:
            self.backlog -= 1
            return False
        if self.catching_up and not (frame.video and frame.keyframe):
            self.queue.skipped += 1
            return True
        self.catching_up = not frame.keyframe and time.time() - frame.t > MAX_LAG_S
        if self.catching_up:
            self.queue.skipped += 1
        return self.catching_up

    def stop(self) -> None:
        self.playing = False
        self.stopped.set()
        self.media.hub.unsubscribe(self.key, self)
        self.queue.close()
        self.sender.close()

    def _run(self) -> None:
        try:
            self.sender.connect()
            first = True
            while not self.stopped.is_set():
                frame = self.queue.get()
                if frame is None:
                    break
                if self._late(frame):
                    continue
                info = self.info
                assert info is not None
                if not frame.video and ps_streams(info).audio is None:
                    continue  # an audio codec PS cannot declare (e.g. Opus): video only
                ts = int(frame.t * CLOCK)
                self.sender.send(mux(info, frame.video, frame.keyframe, frame.data, ts), ts)
                if first:
                    first = False
                    self.media.emit({"media": {"id": self.sid, "event": "playing",
                                               "first_packet_ms": round(
                                                   (time.monotonic() - self.started_at) * 1000)}})
                faults.check("media.send")
        except OSError as exc:
            if not self.stopped.is_set():
                self.media.close(self.sid, f"{self.sender.transport} peer gone: {exc}")
        except Exception as exc:  # this session ends; the others and recording go on
            logger.exception("media session=%s channel=%s failed", self.sid, self.channel)
            if not self.stopped.is_set():
                self.media.close(self.sid, f"internal error: {type(exc).__name__}: {exc}")
