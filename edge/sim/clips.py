"""Encode the looping test clips that the simulated cameras serve.

A clip is three files in a cache directory: ``NAME.video`` (Annex B access units),
``NAME.audio`` (G.711 frames or ADTS AAC frames, optional) and ``NAME.json`` (codecs,
rates). Each unit is stored as a 4-byte big-endian length plus the bytes, so the
camera server (system python3 + GStreamer, no PyAV) can push one access unit per
buffer without parsing the bitstream.

Every frame carries its index as a row of black/white blocks (``read_counter``), so
tests can prove that no frame went missing between a camera and a decoder.
"""

from __future__ import annotations

import fcntl
import json
import math
import struct
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from edge.gb28181.media.ps import adts_header

COUNTER_BITS = 12
COUNTER_BLOCK = 16  # pixels per bit block; survives 1 Mbit/s compression at 640x360
VIDEO_ENCODERS = {"h264": "libx264", "hevc": "libx265"}
AAC_RATE = 16_000
ALAW_FRAME = 160  # 20 ms at 8 kHz, the usual RTP packetisation time for PCMA/PCMU


@dataclass(frozen=True)
class ClipSpec:
    """What to encode. ``audio`` is None, ``pcm_alaw``, ``pcm_mulaw`` or ``aac``."""

    name: str
    codec: str = "h264"
    width: int = 640
    height: int = 360
    fps: int = 25
    seconds: int = 10
    gop: int = 25
    bitrate: int = 800_000
    audio: str | None = None
    picture: str | None = None  # an image (a face, a street) composed into every frame
    source: str | None = None  # a real scene (video or still picture) instead of the pattern
    effect: str | None = None  # a fault in the second half of the clip (one of EFFECTS)
    version: int = 2  # bump when the encoding recipe changes, to refresh caches


def ensure_clip(spec: ClipSpec, cache_dir: Path) -> Path:
    """Encode the clip unless the cache already holds it; return its ``.json`` path."""
    meta_path = cache_dir / f"{spec.name}.json"

    def cached() -> bool:
        return meta_path.exists() and json.loads(meta_path.read_text())["spec"] == asdict(spec)

    if cached():
        return meta_path
    with filling(meta_path):
        if cached():  # another process encoded it while this one waited
            return meta_path
        _write_units(cache_dir / f"{spec.name}.video", _encode_video(spec))
        meta: dict[str, object] = {"spec": asdict(spec), "video": spec.codec, "fps": spec.fps}
        if spec.audio:
            frames, rate, frame_samples = _encode_audio(spec)
            _write_units(cache_dir / f"{spec.name}.audio", frames)
            meta.update(audio=spec.audio, audio_rate=rate, audio_frame_samples=frame_samples)
        # Written last: a half-written clip is never mistaken for a cached one.
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta))
        tmp.replace(meta_path)
    return meta_path


@contextmanager
def filling(target: Path) -> Iterator[None]:
    """One process at a time makes the cached file ``target`` (test workers running in
    parallel share the cache): the others wait, then find it made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def draw_frame(index: int, width: int, height: int) -> np.ndarray:
    """An RGB test picture: moving gradient and bar, plus the frame counter blocks."""
    x = np.arange(width, dtype=np.uint16)
    img = np.empty((height, width, 3), np.uint8)
    img[:, :, 0] = ((x + index * 4) % 256).astype(np.uint8)
    img[:, :, 1] = 96
    img[:, :, 2] = ((np.arange(height)[:, None] + index * 2) % 256).astype(np.uint8)
    bar = (index * 6) % max(1, width - 48)
    img[height // 3 : height // 3 + 48, bar : bar + 48] = 255
    for bit in range(COUNTER_BITS):
        value = 255 if (index >> bit) & 1 else 0
        x0 = bit * COUNTER_BLOCK
        img[0:COUNTER_BLOCK, x0 : x0 + COUNTER_BLOCK] = value
    return img


def read_counter(gray: np.ndarray) -> int:
    """Read the frame index back from a decoded luma (or grayscale) picture."""
    index = 0
    half = COUNTER_BLOCK // 2
    for bit in range(COUNTER_BITS):
        x0 = bit * COUNTER_BLOCK
        # sample the block centre: edges blur under compression
        patch = gray[half - 3 : half + 3, x0 + half - 3 : x0 + half + 3]
        if float(patch.mean()) > 128:
            index |= 1 << bit
    return index


def _encode_video(spec: ClipSpec) -> list[bytes]:
    if spec.codec not in VIDEO_ENCODERS:
        raise ValueError(f"clip codec must be one of {sorted(VIDEO_ENCODERS)}, not {spec.codec!r}")
    # Like a camera: fixed GOP, no B-frames, parameter sets repeated before every IDR.
    # One slice per frame: the RTP payloader inserts SPS/PPS before every IDR slice,
    # which would split a multi-slice IDR into two access units.
    params = (f"keyint={spec.gop}:min-keyint={spec.gop}:scenecut=0:bframes=0:repeat-headers=1"
              ":slices=1:sliced-threads=0")
    ctx = av.CodecContext.create(VIDEO_ENCODERS[spec.codec], "w")
    ctx.width, ctx.height, ctx.pix_fmt = spec.width, spec.height, "yuv420p"
    ctx.time_base = Fraction(1, spec.fps)
    ctx.framerate = spec.fps
    ctx.bit_rate = spec.bitrate
    if spec.codec == "h264":
        ctx.options = {"preset": "veryfast", "x264-params": params}
    else:
        ctx.options = {"preset": "ultrafast", "x265-params": params + ":log-level=error"}
    units: list[bytes] = []
    picture = _picture(spec.picture, spec.height - 2 * COUNTER_BLOCK) if spec.picture else None
    scene = _scene(spec) if spec.source else None
    total = spec.fps * spec.seconds
    held: np.ndarray | None = None
    for i in range(total):
        # a real scene has no counter: its blocks would be motion to the detector
        image = next(scene) if scene else draw_frame(i, spec.width, spec.height)
        if spec.effect and i >= total // 2:
            held = image if held is None else held
            image = degrade(spec.effect, image, held, i)
        if picture is not None:  # drifting a little, as a person in front of a camera does
            h, w = picture.shape[:2]
            left = spec.width - w - 8 - (i % 50)
            image[2 * COUNTER_BLOCK:2 * COUNTER_BLOCK + h, left:left + w] = picture
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        units += [bytes(p) for p in ctx.encode(frame)]
    units += [bytes(p) for p in ctx.encode(None)]
    return units


EFFECTS = ("black", "blue", "frozen", "blur", "covered", "dark", "bright", "tint", "turned",
           "noise")


def degrade(effect: str, image: np.ndarray, held: np.ndarray, index: int) -> np.ndarray:
    """What a failing camera shows: a lost signal, a frozen encoder, lost focus, a lens
    sprayed over, night without infrared, glare, a failing colour filter, a camera turned
    away, interference."""
    if effect == "black":
        return np.zeros_like(image)
    if effect == "blue":
        out = np.zeros_like(image)
        out[:, :, 2] = 200
        return out
    if effect == "frozen":
        return held
    if effect == "blur":
        return np.asarray(cv2.GaussianBlur(image, (0, 0), 6))
    if effect == "covered":
        out = image.copy()
        out[:, :image.shape[1] * 5 // 8] = (70, 60, 50)
        return out
    if effect == "dark":
        return (image * 0.12).astype(np.uint8)
    if effect == "bright":
        return np.clip(image.astype(np.int16) + 170, 0, 255).astype(np.uint8)
    if effect == "tint":
        return np.clip(image * np.array([1.0, 0.75, 0.45]) + np.array([40, 0, 0]), 0,
                       255).astype(np.uint8)
    if effect == "turned":
        h, w = image.shape[:2]
        return np.ascontiguousarray(cv2.resize(image[h // 2:, w // 2:], (w, h))[:, ::-1])
    if effect == "noise":
        grain = np.random.default_rng(index).normal(0, 30, image.shape)
        return np.clip(image + grain, 0, 255).astype(np.uint8)
    raise ValueError(f"clip effect must be one of {EFFECTS}, not {effect!r}")


def _scene(spec: ClipSpec) -> Iterator[np.ndarray]:
    """The source's frames at the clip's size, from its start again when it ends."""
    assert spec.source
    while True:
        with av.open(spec.source) as container:
            for frame in container.decode(video=0):
                yield frame.reformat(width=spec.width, height=spec.height,
                                     format="rgb24").to_ndarray()


def _picture(path: str, height: int) -> np.ndarray:
    with av.open(path) as container:
        frame = next(container.decode(video=0))
    width = round(frame.width * height / frame.height) // 2 * 2
    return frame.reformat(width=width, height=height, format="rgb24").to_ndarray()


def _encode_audio(spec: ClipSpec) -> tuple[list[bytes], int, int]:
    if spec.audio in ("pcm_alaw", "pcm_mulaw"):
        rate, frame_samples, fmt = 8000, ALAW_FRAME, "s16"
    elif spec.audio == "aac":
        rate, frame_samples, fmt = AAC_RATE, 1024, "fltp"
    else:
        raise ValueError(f"clip audio must be pcm_alaw, pcm_mulaw or aac, not {spec.audio!r}")
    ctx = av.CodecContext.create(spec.audio, "w")
    ctx.sample_rate, ctx.layout, ctx.format = rate, "mono", fmt
    if spec.audio == "aac":
        ctx.bit_rate = 32_000
    total = rate * spec.seconds
    t = np.arange(total) / rate
    tone = 0.3 * np.sin(2 * math.pi * 440 * t)
    out: list[bytes] = []
    for start in range(0, total - frame_samples + 1, frame_samples):
        chunk = tone[start : start + frame_samples]
        if fmt == "s16":
            arr = (chunk * 32767).astype(np.int16).reshape(1, -1)
        else:
            arr = chunk.astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    if spec.audio == "aac":
        out = [adts_header(len(f), rate) + f for f in out]
    return out, rate, frame_samples


def read_units(path: Path) -> list[bytes]:
    """The access units (video) or frames (audio) of a cached clip file."""
    data = path.read_bytes()
    units, at = [], 0
    while at + 4 <= len(data):
        size = struct.unpack(">I", data[at:at + 4])[0]
        units.append(data[at + 4:at + 4 + size])
        at += 4 + size
    return units


def _write_units(path: Path, units: list[bytes]) -> None:
    with path.open("wb") as f:
        for unit in units:
            f.write(struct.pack(">I", len(unit)))
            f.write(unit)
