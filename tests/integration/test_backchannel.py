"""A camera's own loudspeaker (ONVIF Profile T backchannel) as a speaker: GStreamer's own
ONVIF RTSP server (edge/sim/rtsp_camera.py --backchannel, digest authentication like a
camera) decodes what arrives on its audio output into a file — the camera's ears. The
speaker is driven as every broadcast source drives one (claim, play, release)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edge.config import SpeakerConfig
from edge.sim.server import CameraServer, free_port
from edge.voice.speaker import PRIORITY_CASCADE, PRIORITY_ROOM, SpeakerError, Speakers
from tests.integration.conftest import peak_hz

CAM = "34020000001320000001"
SPEAKER = SpeakerConfig("34020000001370000003", "村口摄像机喇叭", camera=CAM, backchannel=True,
                        volume=100)


def tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def heard(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), "<i2") if path.exists() else np.zeros(0, np.int16)


def hearing(path: Path, samples: int, timeout_s: float = 20.0) -> np.ndarray:
    """What the camera heard, once it is ``samples`` long or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while heard(path).size < samples and time.monotonic() < deadline:
        time.sleep(0.1)
    return heard(path)


def test_a_broadcast_comes_out_of_the_cameras_own_speaker(tmp_path: Path,
                                                          clips: dict[str, Path]) -> None:
    ears = tmp_path / "camera-speaker.raw"
    with CameraServer({"/c": clips["h264_g711a"]}, user="admin", password="village2026",
                      backchannel=ears) as camera:
        speaker = Speakers((SPEAKER,), None, {CAM: camera.url("/c")}).get(SPEAKER.id)
        assert speaker is not None
        claim = speaker.claim("gb28181:34020000002000000001", PRIORITY_CASCADE)
        assert claim is not None
        said = tone(2.0, 1000)
        started = time.monotonic()
        for i in range(0, said.size, 1600):  # as the broadcast's packets come
            speaker.play(claim, said[i:i + 1600])
        took = time.monotonic() - started
        speaker.release(claim, "done")
        got = hearing(ears, said.size)
        loud = np.nonzero(np.abs(got) > 1000)[0]
        assert got.size == said.size, (  # every sample, once
            f"heard {got.size} of {said.size} samples, loud from {loud[:1]} to {loud[-1:]}")
        assert abs(peak_hz(got) - 1000) < 10 and np.abs(got).max() > 5000
        assert took >= 1.5  # paced like a sound card, not flooded (2 s, 0.2 s ahead)
        # a second claim opens the camera's output again
        claim = speaker.claim("web:oper", PRIORITY_ROOM)
        speaker.play(claim, tone(0.5, 500))
        speaker.release(claim, "done")
        got = hearing(ears, said.size + 4000)
        assert abs(peak_hz(got[said.size:]) - 500) < 10


@pytest.mark.parametrize("case", ["no audio output", "wrong password", "no camera"])
def test_a_camera_that_cannot_speak_is_a_clear_error(tmp_path: Path, clips: dict[str, Path],
                                                     case: str) -> None:
    ears = None if case == "no audio output" else tmp_path / "ears.raw"
    with CameraServer({"/c": clips["h264"]}, user="admin", password="village2026",
                      backchannel=ears) as camera:
        url = {"no audio output": camera.url("/c"),
               "wrong password": camera.url("/c").replace("village2026", "x"),
               "no camera": f"rtsp://admin:x@127.0.0.1:{free_port()}/c"}[case]
        speaker = Speakers((SPEAKER,), None, {CAM: url}).get(SPEAKER.id)
        assert speaker is not None
        claim = speaker.claim("web:oper", PRIORITY_ROOM)
        with pytest.raises(SpeakerError) as raised:
            speaker.play(claim, tone(0.1, 1000))
        said = {"no audio output": "no audio output", "wrong password": "401",
                "no camera": "cannot connect"}[case]
        assert "摄像机喇叭不可用" in str(raised.value) and said in str(raised.value)
        assert claim.ended.is_set() and said in claim.reason
        speaker.release(claim, "failed")
        assert speaker.idle
