"""Logging set-up: one redacting formatter so no call site can leak camera passwords."""

from __future__ import annotations

import logging
import re

# user:password@ (or user@) right after "scheme://"
_CREDENTIALS = re.compile(r"(?<=://)([^/@\s:]+)(:[^/@\s]*)?@")


def redact(text: str) -> str:
    """``rtsp://admin:pw@10.0.0.5/x`` -> ``rtsp://admin:***@10.0.0.5/x``."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup(level: str = "INFO") -> None:
    # stderr goes to journald, which adds its own timestamps; thread names carry
    # the channel ("cam:34020000001320000001"), so every line names its camera.
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
