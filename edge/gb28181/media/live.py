"""Live GB/T 28181 media in the recorder process: one camera pull, many PS/RTP sessions.

The camera threads hand every packet to the hub, which keeps the current GOP (so a new
session starts with a keyframe at once) and, while sessions exist, muxes each packet into
PS once and queues it to every session of that channel. Each session has its own thread,
RTP sequence and socket (UDP from its fixed local port, TCP as client or server with RFC
4571 framing), so a slow or dead platform never holds up recording: its queue overflows,
it skips to the next keyframe, and a broken connection ends only that session.

Commands come from the supervisor's SIP runner as JSON lines (open, play, close);
events (playing, ended) go back on the recorder's status stream.
"""

from __future__ import annotations

import errno
import logging
import queue
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edge import faults
from edge.gb28181.media.ps import STREAM_TYPES, Streams, adts_header, audio_frame, video_frame
from edge.gb28181.media.rtp import Packetizer, frame_tcp

if TYPE_CHECKING:
    from edge.gb28181.media.playback import PlaybackSession
    from edge.gb28181.media.substream import SubStream

logger = logging.getLogger(__name__)

CLOCK = 90_000
QUEUE_FRAMES = 250  # about 10 s of video and audio
GOP_MAX_FRAMES = 600
CONNECT_TIMEOUT_S = 1.0
CONNECT_TRIES = 5
ACCEPT_TIMEOUT_S = 10.0
RECENT_TIMESTAMPS = 256  # a few seconds of audio and video frames
# UDP GSO (Linux >= 4.18): one sendmsg carries a frame's equal-sized RTP packets and the
# kernel cuts them into datagrams; a system call per frame instead of per packet
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
GSO_PACKETS = 40  # per call: 40 x 1412 bytes stays under the 64 KB datagram limit
GSO_UNSUPPORTED = (errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO)
Emit = Callable[[dict[str, Any]], None]


@dataclass
class StreamInfo:
    video: str
    audio: str | None
    extradata: bytes  # Annex-B parameter sets from the camera's SDP
    audio_rate: int = 8000
    audio_channels: int = 1

    @property
    def ps_streams(self) -> Streams:
        audio = self.audio if self.audio in STREAM_TYPES else None
        return Streams(self.video, audio)


@dataclass
class _Frame:
    video: bool
    keyframe: bool
    data: bytes
    ts: int  # 90 kHz


@dataclass
class _Channel:
    info: StreamInfo | None = None
    gop: list[_Frame] = field(default_factory=list)
    sessions: list[LiveSession] = field(default_factory=list)


SUB_WAIT_S = 5.0  # a sub stream pulled on demand: how long ACK may wait for it
SUB = "#sub"  # the hub key of a camera's sub stream: "<channel>#sub"


class LiveHub:
    def __init__(self, emit: Emit, data_dir: Path,
                 sub_streams: dict[str, tuple[str, str]] | None = None) -> None:
        self.emit = emit
        self.data_dir = data_dir  # for playback sessions
        self.sub_urls = sub_streams or {}  # channel -> (sub_url, transport)
        self.pullers: dict[str, SubStream] = {}
        self.lock = threading.Lock()
        self.channels: dict[str, _Channel] = {}
        self.sessions: dict[str, LiveSession | PlaybackSession] = {}
        self.failing: set[str] = set()  # channels whose fan-out raised (logged once)

    # -- from the camera threads ------------------------------------------------------

    def connected(self, channel: str, info: StreamInfo) -> None:
        with self.lock:
            ch = self.channels.setdefault(channel, _Channel())
            ch.info, ch.gop = info, []

    def on_packet(self, channel: str, video: bool, keyframe: bool, data: bytes,
                  t: float) -> None:
        """From a camera thread: whatever goes wrong in the fan-out stays here, so the
        packet is still recorded."""
        try:
            self._fan_out(channel, video, keyframe, data, t)
        except Exception:
            if channel not in self.failing:  # once per channel, not once per packet
                self.failing.add(channel)
                logger.exception("camera=%s live fan-out failed; recording goes on", channel)

    def _fan_out(self, channel: str, video: bool, keyframe: bool, data: bytes,
                 t: float) -> None:
        with self.lock:
            ch = self.channels.get(channel)
            if ch is None or ch.info is None:
                return
            if not video and ch.info.ps_streams.audio is None:
                return  # an audio codec PS cannot declare (e.g. Opus): video only
            frame = _Frame(video, keyframe, data, int(t * CLOCK))
            if video and keyframe:
                ch.gop = []
            if ch.gop or (video and keyframe):
                ch.gop.append(frame)
                del ch.gop[:-GOP_MAX_FRAMES]
            playing = [s for s in ch.sessions if s.playing]
            if playing:
                ps = mux(ch.info, frame)
                for session in playing:
                    session.push(ps, frame.ts, video and keyframe)
        if self.failing:
            self.failing.discard(channel)

    def disconnected(self, channel: str) -> None:
        with self.lock:
            ch = self.channels.get(channel)
            if ch:
                ch.info, ch.gop = None, []

    # -- from the supervisor ----------------------------------------------------------

    def command(self, cmd: dict[str, Any]) -> None:
        op, sid = cmd.get("op"), str(cmd.get("id"))
        try:
            if op == "open":
                self._open(sid, cmd)
            elif op == "play":
                self._play(sid)
            elif op == "close":
                self.close(sid, "closed by the platform")
            elif op == "close_all":  # the SIP runner restarted: no dialog is left
                for each in list(self.sessions):
                    self.close(each, "the SIP runner restarted")
            elif op == "control":
                session = self.sessions[sid]
                if isinstance(session, LiveSession):
                    raise ValueError("a live session takes no playback control")
                session.control(cmd)
            else:
                raise ValueError(f"unknown media command {op!r}")
        except Exception as exc:  # one command fails; the hub and recording go on
            expected = isinstance(exc, (OSError, ValueError, KeyError))
            logger.warning("media session=%s %s failed: %s", sid, op, exc,
                           exc_info=not expected)
            if sid in self.sessions:
                self.close(sid, f"{op} failed: {exc}")
            else:  # never opened (e.g. its port is taken): the SIP side still needs to know
                self.emit({"media": {"id": sid, "event": "ended", "reason": f"{op} failed: {exc}"}})

    def _open(self, sid: str, cmd: dict[str, Any]) -> None:
        self._add(sid, cmd)
        # the SIP side answers 200 OK only now: our port is bound (and listening for TCP)
        self.emit({"media": {"id": sid, "event": "opened"}})

    def _add(self, sid: str, cmd: dict[str, Any]) -> None:
        sender = Sender(cmd["transport"], cmd["address"], int(cmd["port"]),
                        int(cmd["local_port"]), int(cmd["ssrc"]), int(cmd.get("pt", 96)))
        if cmd.get("kind", "Play") != "Play":
            from edge.gb28181.media.playback import PlaybackSession  # PyAV file reading

            with self.lock:
                self.sessions[sid] = PlaybackSession(
                    sid, cmd["channel"], sender, self.data_dir, cmd["kind"], float(cmd["start"]),
                    float(cmd["end"]), int(cmd.get("speed", 1)), self.emit)
            return
        key = cmd["channel"]
        if int(cmd.get("stream", 0)) == 1 and key in self.sub_urls:  # e.g. a 4G platform
            key += SUB
            if key not in self.pullers:
                from edge.gb28181.media.substream import SubStream  # PyAV

                url, transport = self.sub_urls[cmd["channel"]]
                self.pullers[key] = SubStream(key, url, transport, self)
                self.pullers[key].start()
        session = LiveSession(sid, key, sender, self)
        with self.lock:
            self.sessions[sid] = session
            self.channels.setdefault(session.channel, _Channel()).sessions.append(session)

    def _play(self, sid: str) -> None:
        with self.lock:
            session = self.sessions[sid]
            if not isinstance(session, LiveSession):
                session.start([])
                return
        deadline = time.monotonic() + (SUB_WAIT_S if session.channel.endswith(SUB) else 0)
        while self.channels[session.channel].info is None and time.monotonic() < deadline:
            time.sleep(0.05)  # a sub stream pulled at INVITE is still connecting
        with self.lock:
            ch = self.channels[session.channel]
            if ch.info is None:
                raise ValueError(f"camera {session.channel} is offline")
            backlog = [(mux(ch.info, f), f.ts, f.video and f.keyframe) for f in ch.gop]
            session.start(backlog)

    def close(self, sid: str, reason: str) -> None:
        with self.lock:
            session = self.sessions.pop(sid, None)
            if session is None:
                return
            ch = self.channels.get(session.channel)
            if ch and isinstance(session, LiveSession) and session in ch.sessions:
                ch.sessions.remove(session)
            puller = self.pullers.get(session.channel)
            if puller and ch is not None and not ch.sessions:  # its last viewer left
                del self.pullers[session.channel]
                puller.stop()
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

    def close_all(self) -> None:
        for sid in list(self.sessions):
            self.close(sid, "recorder stopping")


def mux(info: StreamInfo, frame: _Frame) -> bytes:
    if frame.video:
        data = frame.data
        if frame.keyframe and info.extradata and not _has_parameter_sets(data, info.video):
            data = info.extradata + data  # every IDR carries SPS/PPS(/VPS)
        return video_frame(info.ps_streams, data, frame.ts, None, frame.keyframe)
    data = frame.data
    if info.audio == "aac":
        data = adts_header(len(data), info.audio_rate, info.audio_channels) + data
    return audio_frame(data, frame.ts)


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
    def __init__(self, sid: str, channel: str, sender: Sender, hub: LiveHub) -> None:
        self.sid, self.channel = sid, channel
        self.sender = sender
        self.hub = hub
        # SimpleQueue (C) costs less per frame than Queue; its bound is kept by push()
        self.queue: queue.SimpleQueue[tuple[bytes, int] | None] = queue.SimpleQueue()
        self.playing = False
        self.skip_to_keyframe = False
        self.skipped = 0  # frames not sent because the platform fell behind
        self.started_at = 0.0
        self.stopped = threading.Event()

    @property
    def bytes_sent(self) -> int:
        return self.sender.bytes_sent

    def start(self, backlog: list[tuple[bytes, int, bool]]) -> None:
        self.started_at = time.monotonic()
        for item in backlog[-QUEUE_FRAMES + 10:]:
            self.queue.put_nowait(item[:2])
        self.playing = True
        threading.Thread(target=self._run, name=f"media:{self.sid}", daemon=True).start()

    def push(self, ps: bytes, ts: int, keyframe: bool) -> None:
        """From a camera thread: never blocks."""
        if self.skip_to_keyframe and not keyframe:
            self.skipped += 1
            return
        if self.queue.qsize() >= QUEUE_FRAMES:  # the platform cannot keep up: resume at
            self.skip_to_keyframe = True         # the next keyframe
            self.skipped += 1
            return
        self.skip_to_keyframe = False
        self.queue.put_nowait((ps, ts))

    def stop(self) -> None:
        self.playing = False
        self.stopped.set()
        self.queue.put_nowait(None)
        self.sender.close()

    def _run(self) -> None:
        try:
            self.sender.connect()
            first = True
            while not self.stopped.is_set():
                item = self.queue.get()
                if item is None:
                    break
                self.sender.send(*item)
                if first:
                    first = False
                    self.hub.emit({"media": {"id": self.sid, "event": "playing",
                                             "first_packet_ms": round(
                                                 (time.monotonic() - self.started_at) * 1000)}})
                faults.check("media.send")
        except OSError as exc:
            if not self.stopped.is_set():
                self.hub.close(self.sid, f"{self.sender.transport} peer gone: {exc}")
        except Exception as exc:  # this session ends; the others and recording go on
            logger.exception("media session=%s channel=%s failed", self.sid, self.channel)
            if not self.stopped.is_set():
                self.hub.close(self.sid, f"internal error: {type(exc).__name__}: {exc}")
