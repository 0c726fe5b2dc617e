"""Open RTSP cameras with PyAV and turn FFmpeg's errors into messages a technician can act on."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import av
import av.container
import av.stream

from edge.errors import StreamError
from edge.ingest.media import StreamInfo

OPEN_TIMEOUT_S = 10.0
# A stream that stays connected but sends nothing this long counts as down.
READ_TIMEOUT_S = 10.0


def open_camera(
    url: str,
    transport: str = "tcp",
    open_timeout_s: float = OPEN_TIMEOUT_S,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> av.container.InputContainer:
    """Connect and read the stream description. Raises StreamError with a clear reason."""
    # Not "fflags=nobuffer": with it FFmpeg's RTSP demuxer hands out H.264 slices
    # that do not assemble into decodable access units.
    options = {
        "rtsp_transport": transport,
        # FFmpeg's socket timeout ends a dead TCP connection cheaply, but a camera
        # whose encoder froze keeps its RTSP session alive with RTCP, which resets
        # that timer; only PyAV's read timeout (below) catches it. That one polls a
        # Python callback on every blocking read: ~8 % more CPU, kept on purpose.
        "timeout": str(int(read_timeout_s * 1_000_000)),
        # PyAV turns on genpts, which queues packets to invent missing timestamps; we
        # map timestamps ourselves (ingest/timeline.py), so that work is wasted (~10 %)
        "fflags": "-genpts",
    }
    started = time.monotonic()
    try:
        container = av.open(url, options=options, timeout=(open_timeout_s, read_timeout_s))
    except (av.FFmpegError, OSError) as exc:
        raise StreamError(describe_error(exc, time.monotonic() - started, open_timeout_s)) from None
    if not container.streams.video:
        container.close()
        raise StreamError("流中没有视频 stream has no video track")
    return container


def stream_info(video: av.stream.Stream, audio: av.stream.Stream | None) -> StreamInfo:
    """What consumers of the live hub need to know of an opened camera stream."""
    v = video.codec_context
    return StreamInfo(v.name, audio.codec_context.name if audio else None,
                      bytes(v.extradata or b""),
                      audio.codec_context.sample_rate if audio else 8000,
                      audio.codec_context.channels if audio else 1, v.width or 0,
                      v.height or 0)


def describe_error(exc: BaseException, elapsed_s: float, timeout_s: float) -> str:
    """One line, Chinese then English. Never includes the URL (it may hold a password)."""
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return "认证失败: 用户名或密码错误 authentication failed: wrong user name or password (401)"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return "拒绝访问 access forbidden (403)"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return "通道路径不存在 stream path not found (404)"
    if isinstance(exc, ConnectionRefusedError):
        return "连接被拒绝: 端口未开放 connection refused: nothing listens on that port"
    if isinstance(exc, (TimeoutError, av.error.ExitError)) or elapsed_s >= 0.9 * timeout_s:
        return f"超时: {elapsed_s:.0f} 秒无响应 timeout: no answer for {elapsed_s:.0f} s"
    if isinstance(exc, av.error.InvalidDataError):
        return "对端不是 RTSP 摄像机或数据无效 peer is not an RTSP camera or sent invalid data"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, EOFError)):
        return "连接被对端断开 connection closed by the camera"
    if isinstance(exc, av.error.EOFError):
        return "摄像机结束了流 camera ended the stream"
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 5:
        return "网络错误或主机名无法解析 network error or unknown host name"
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return f"流错误 stream error: {text}"


@dataclass(frozen=True)
class ProbeResult:
    video_codec: str
    width: int
    height: int
    fps: float
    bitrate_bps: float
    keyframe_interval_s: float | None
    audio_codec: str | None
    audio_rate: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def probe(url: str, transport: str = "tcp", seconds: float = 5.0) -> ProbeResult:
    """Watch a camera for ``seconds`` and measure what it really sends."""
    container = open_camera(url, transport)
    try:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames, size, keyframes = 0, 0, []
        first: float | None = None
        last = 0.0
        started = time.monotonic()
        try:
            for packet in container.demux(video):
                if time.monotonic() - started >= seconds:
                    break
                if packet.pts is None or packet.time_base is None:
                    continue
                t = float(packet.pts * packet.time_base)
                first = t if first is None else first
                last = t
                frames += 1
                size += packet.size
                if packet.is_keyframe:
                    keyframes.append(t)
        except (av.FFmpegError, OSError) as exc:
            raise StreamError(describe_error(exc, time.monotonic() - started, READ_TIMEOUT_S)) from None
        span = max(last - (first or 0.0), 1e-3)
        gaps = [b - a for a, b in zip(keyframes, keyframes[1:])]
        return ProbeResult(
            video_codec=video.codec_context.name,
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=round((frames - 1) / span, 2) if frames > 1 else 0.0,
            bitrate_bps=round(8 * size / span),
            keyframe_interval_s=round(sum(gaps) / len(gaps), 2) if gaps else None,
            audio_codec=audio.codec_context.name if audio else None,
            audio_rate=audio.codec_context.sample_rate if audio else None,
        )
    finally:
        container.close()
