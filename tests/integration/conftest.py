"""Fixtures shared by the integration tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from tests.integration.broker import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on loopback (tests/integration/broker.py)."""
    b = Broker(tmp_path / "broker").start()
    yield b
    b.close()


@pytest.fixture(scope="session")
def alsa_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An ALSA PCM "edgetest" that plays into a raw file (no sound card here): alsa-lib's
    own ``file`` plugin, the same library path as a USB sound card. Each opening of the
    PCM starts the file again."""
    folder = tmp_path_factory.mktemp("alsa")
    out = folder / "played.raw"
    conf = folder / "asoundrc"
    conf.write_text('pcm.edgetest {\n type file\n slave.pcm "null"\n'
                    f' file "{out}"\n format "raw"\n}}\n')
    before = os.environ.get("ALSA_CONFIG_PATH")
    os.environ["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{conf}"
    yield out
    if before is None:
        os.environ.pop("ALSA_CONFIG_PATH")
    else:
        os.environ["ALSA_CONFIG_PATH"] = before


def played(path: Path) -> np.ndarray:
    """What the "edgetest" PCM played: 16-bit mono samples at 8 kHz."""
    return np.frombuffer(path.read_bytes(), dtype="<i2")


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(samples.size, 1 / 8000)[int(np.argmax(spectrum))])
