"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.broker import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on loopback (tests/integration/broker.py)."""
    b = Broker(tmp_path / "broker").start()
    yield b
    b.close()
