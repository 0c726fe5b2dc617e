"""The shape of a long-lived loop under supervision.

A ``Runner`` thread does its work in ``loop()`` and calls ``beat()`` on every turn. An
exception that escapes ``loop()`` is logged with its traceback and kept in ``crashed``;
the supervisor sees the thread dead and starts a new one (edge/supervision.py). A runner
that cannot work for a reason a restart will not fix (its port is taken) sets
``blocked`` and returns. Inside the loop, each unit of work that a peer's input drives
(a datagram, a message, a command) runs under ``survive()``: one bad unit is logged
and dropped, the loop goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

logger = logging.getLogger(__name__)


class Runner(threading.Thread):
    stale_after_s = 15.0  # no beat for this long: the loop is wedged

    def __init__(self, name: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.stop_event = stop
        self.last_beat = time.monotonic()
        self.crashed: str | None = None
        self.blocked: str | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def loop(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        try:
            self.loop()
        except Exception as exc:  # the supervisor restarts us; say why we died
            self.crashed = f"{type(exc).__name__}: {exc}"
            logger.exception("runner=%s died: %s", self.name, self.crashed)


@contextmanager
def survive(log: logging.Logger, what: str, *args: object) -> Iterator[None]:
    """Run one unit of work; an unexpected exception is logged with its traceback and
    ``what`` (%-formatted with ``args``: name the peer or channel), then dropped."""
    try:
        yield
    except Exception:
        log.exception("dropped " + what + " after an unexpected error", *args)


def write_status(data_dir: Path, name: str, status: dict[str, Any]) -> None:
    """A runner's live state as ``data_dir/name`` (JSON), replaced atomically for readers in
    other processes (``edge status``, the web UI)."""
    tmp = data_dir / (name + ".tmp")
    try:
        tmp.write_text(json.dumps(status, ensure_ascii=False), encoding="utf-8")
        tmp.replace(data_dir / name)
    except OSError as exc:  # a full disk must not stop the runner
        logger.warning("cannot write %s: %s", name, exc)
