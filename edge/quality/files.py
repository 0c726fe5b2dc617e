"""Where quality diagnosis keeps its files in the data dir (shared with the web UI, which
must not import OpenCV for it)."""

from __future__ import annotations

from pathlib import Path

FOLDER = "quality"


def baseline_path(data_dir: Path, channel: str) -> Path:
    return data_dir / FOLDER / f"{channel}.npz"


def accept_path(data_dir: Path, channel: str) -> Path:
    """Present: learn the camera's view again (the technician accepted a new one)."""
    return data_dir / FOLDER / f"{channel}.accept"
