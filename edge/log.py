"""Logging set-up: one redacting formatter so no call site can leak camera passwords."""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

# user:password@ (or user@) right after "scheme://"
_CREDENTIALS = re.compile(r"(?<=://)([^/@\s:]+)(:[^/@\s]*)?@")


def redact(text: str) -> str:
    """``rtsp://admin:pw@10.0.0.5/x`` -> ``rtsp://admin:***@10.0.0.5/x``."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
LOG_DIR = "logs"  # under the data dir: the web UI's System page shows their tails
LOG_BYTES = 512 * 1024


def setup(level: str = "INFO") -> None:
    # stderr goes to journald, which adds its own timestamps; thread names carry
    # the channel ("cam:34020000001320000001"), so every line names its camera.
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx (the ONVIF client's HTTP) logs every request at INFO: a PTZ pad held for a
    # minute would fill the journal; onveef's own warnings stay
    logging.getLogger("httpx").setLevel(logging.WARNING)


def also_to_file(data_dir: Path, name: str) -> None:
    """A small rotating copy of this process's log lines (two files of 512 KB)."""
    folder = data_dir / LOG_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(folder / f"{name}.log",
                                                       maxBytes=LOG_BYTES, backupCount=1,
                                                       encoding="utf-8")
    except OSError as exc:  # a full or read-only disk: journald still has everything
        logging.getLogger(__name__).warning("cannot log to %s: %s", folder, exc)
        return
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.getLogger().addHandler(handler)


def tail(data_dir: Path, lines: int = 200) -> list[str]:
    """The newest log lines of every process, merged by time."""
    out: list[str] = []
    for path in sorted((data_dir / LOG_DIR).glob("*.log")):
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                out += [f"{line.rstrip()}" for line in f.readlines()[-lines:]
                        if line[:4].isdigit()]
        except OSError:
            continue
    return sorted(out)[-lines:]
