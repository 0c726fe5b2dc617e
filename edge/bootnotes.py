"""What boot could not do, for the console, the USB stick's report, the dashboard and
health: first boot's notes (``edge-firstboot`` writes them on the root, so they stay true
after the next boot) and this boot's (``edge _data-check`` writes them on /run: the data
partition not in use, a nearly full root)."""

from __future__ import annotations

from pathlib import Path

NOTES = Path("/etc/edge/firstboot-notes")
# edge/appliance/datacheck.py writes these; the daemon only reads them
VOLUME_NOTE = Path("/run/edge/data-volume")
ROOT_NOTE = Path("/run/edge/root-space")


def notes() -> list[str]:
    return [line for path in (NOTES, VOLUME_NOTE, ROOT_NOTE) for line in _lines(path)]


def stand_in() -> str | None:
    """Why the data directory is a stand-in on the root partition this boot, or None."""
    lines = _lines(VOLUME_NOTE)
    return lines[0] if lines else None


def root_full() -> str | None:
    lines = _lines(ROOT_NOTE)
    return lines[0] if lines else None


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return []
