"""What first boot could not do (``edge-firstboot`` writes it on the root, so it stays
true after the next boot), for the console, the USB stick's report and the dashboard."""

from __future__ import annotations

from pathlib import Path

NOTES = Path("/etc/edge/firstboot-notes")


def notes() -> list[str]:
    try:
        return [line for line in NOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return []
