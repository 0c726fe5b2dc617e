"""MANSRTSP bodies of INFO requests that steer a playback (GB/T 28181 Annex B). Pure.

    PLAY RTSP/1.0 / CSeq / Scale: 2.0 / Range: npt=120-     resume, speed, seek
    PAUSE RTSP/1.0 / CSeq / PauseTime: now                  pause
    TEARDOWN RTSP/1.0                                        stop
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.digits import parse_decimal
from edge.errors import ProtocolError

MIN_SCALE, MAX_SCALE = 0.25, 8.0


@dataclass(frozen=True, slots=True)
class Control:
    action: str  # "play", "pause" or "teardown"
    scale: float | None = None  # None: unchanged
    seek_s: float | None = None  # seconds from the start of the requested range


def parse_control(body: bytes) -> Control:
    lines = body.decode("utf-8", "replace").replace("\r\n", "\n").strip().split("\n")
    method = lines[0].split()[0].upper() if lines and lines[0].split() else ""
    if method not in ("PLAY", "PAUSE", "TEARDOWN"):
        raise ProtocolError(f"MANSRTSP method {method or '(none)'!r} is not PLAY, PAUSE or "
                            "TEARDOWN")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    scale = seek = None
    if "scale" in headers:
        scale = parse_decimal(headers["scale"], "Scale")
        if not MIN_SCALE <= abs(scale) <= MAX_SCALE or scale < 0:
            raise ProtocolError(f"Scale {scale} is outside {MIN_SCALE}..{MAX_SCALE}")
    npt = headers.get("range", "")
    if npt.startswith("npt="):
        first = npt[4:].split("-")[0].strip()
        if first and first != "now":
            seek = parse_decimal(first, "Range npt")
            if seek < 0:
                raise ProtocolError(f"Range {npt!r} is negative")
    return Control(method.lower(), scale, seek)
