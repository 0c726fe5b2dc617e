"""PS muxing and RTP packetising: vectors, sizes, markers, framing, and a cross-check of
our PS against PyAV's own `mpeg` demuxer on a real encoded clip."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.gb28181.media.ps import (
    MAX_PES_PAYLOAD, Streams, _timestamp, audio_frame, crc32_mpeg, pack_header, psm,
    video_frame,
)
from edge.gb28181.media.psdemux import PsDemuxer, _read_ts
from edge.gb28181.media.rtp import Packetizer, TcpDeframer, frame_tcp, parse_rtp
from edge.sim.clips import read_counter, read_units


def test_crc32_mpeg_check_value() -> None:
    assert crc32_mpeg(b"123456789") == 0x0376E6E7  # CRC-32/MPEG-2 catalogue check value


def test_pes_timestamp_vectors() -> None:
    assert _timestamp(0x2, 0) == bytes.fromhex("2100010001")
    assert _timestamp(0x2, 0x1FFFFFFFF) == bytes.fromhex("2FFFFFFFFF")
    assert _timestamp(0x3, 90_000) == bytes.fromhex("310005BF21")  # 90000 = 0x15F90: 2 << 15 | 0x5F90


@given(st.integers(0, 2**33 - 1))
def test_timestamps_round_trip(ts: int) -> None:
    assert _read_ts(_timestamp(0x2, ts)) == ts


def test_pack_header_scr_and_markers() -> None:
    header = pack_header(0x1ABCDEF01)
    assert header[:4] == b"\x00\x00\x01\xba" and len(header) == 14
    b = header[4:]
    assert b[0] >> 6 == 0b01 and b[0] & 0x04 and b[2] & 0x04 and b[4] & 0x04 and b[5] & 0x01
    scr = ((b[0] >> 3) & 7) << 30 | (b[0] & 3) << 28 | b[1] << 20 | (b[2] >> 3) << 15 \
        | (b[2] & 3) << 13 | b[3] << 5 | b[4] >> 3
    assert scr == 0x1ABCDEF01


def test_psm_declares_every_stream_with_a_valid_crc() -> None:
    demux = PsDemuxer()
    demux.parse(psm(Streams("hevc", "pcm_alaw")))
    assert demux.stream_types == {0xE0: 0x24, 0xC0: 0x90} and demux.psm_crc_ok


def test_large_frames_split_into_pes_packets_of_at_most_0xff80() -> None:
    payload = bytes(range(256)) * 1000  # 256,000 bytes
    ps = video_frame(Streams("h264"), payload, 9000, 6000, keyframe=True)
    pes = PsDemuxer().parse(ps)
    assert b"".join(p.payload for p in pes) == payload
    assert all(len(p.payload) <= MAX_PES_PAYLOAD for p in pes) and len(pes) == 4
    assert (pes[0].pts, pes[0].dts) == (9000, 6000) and pes[1].pts is None


def test_rtp_packets_share_the_timestamp_and_mark_the_last() -> None:
    rtp = Packetizer(ssrc=200000001, seq=65534)
    packets = rtp.packets(b"x" * 3000, 123456)
    parsed = [parse_rtp(p) for p in packets]
    assert [len(p.payload) for p in parsed] == [1400, 1400, 200]
    assert [p.marker for p in parsed] == [False, False, True]
    assert {p.timestamp for p in parsed} == {123456} and {p.ssrc for p in parsed} == {200000001}
    assert [p.seq for p in parsed] == [65534, 65535, 0]  # wraps
    assert {p.payload_type for p in parsed} == {96}


@given(st.lists(st.binary(min_size=0, max_size=3000), max_size=8), st.integers(1, 97))
def test_tcp_framing_survives_any_slicing(frames: list[bytes], step: int) -> None:
    rtp = Packetizer(ssrc=1)
    packets = [p for i, f in enumerate(frames) for p in rtp.packets(f, i * 3600)]
    stream = b"".join(frame_tcp(p) for p in packets)
    deframer = TcpDeframer()
    got = [p for i in range(0, len(stream), step) for p in deframer.feed(stream[i:i + step])]
    assert got == packets


CLIPS = Path(__file__).resolve().parents[3] / ".cache" / "clips"


@pytest.mark.parametrize("name, video, audio", [("t-h264-g711a", "h264", "pcm_alaw"),
                                                ("t-h265", "hevc", None)])
def test_pyav_decodes_our_ps(name: str, video: str, audio: str | None, tmp_path: Path,
                             clips: dict[str, Path]) -> None:
    meta = json.loads((CLIPS / f"{name}.json").read_text())
    units = read_units(CLIPS / f"{name}.video")[:75]
    sound = read_units(CLIPS / f"{name}.audio")[:120] if audio else []
    streams = Streams(video, audio)
    out = bytearray()
    step = 90_000 // meta["fps"]
    samples = meta.get("audio_frame_samples", 0)
    audio_i = 0
    for i, unit in enumerate(units):
        keyframe = i % 50 == 0
        out += video_frame(streams, unit, i * step, None, keyframe)
        while audio_i < len(sound) and audio_i * samples * 90_000 // 8000 <= i * step:
            out += audio_frame(sound[audio_i], audio_i * samples * 90_000 // 8000)
            audio_i += 1
    path = tmp_path / "out.ps"
    path.write_bytes(bytes(out))
    with av.open(str(path), format="mpeg") as container:
        assert container.streams.video[0].codec_context.name == video
        if audio:
            assert container.streams.audio[0].codec_context.name == audio
        frames = list(container.decode(video=0))
    assert len(frames) == len(units)
    counters = [read_counter(f.to_ndarray(format="gray")) for f in frames]
    assert counters == list(range(len(units)))
