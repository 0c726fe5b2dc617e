"""The supervisor's eye on its runners: it looks at each every half second, logs what
changed, restarts the dead with back-off and kills a stale process (the decisions are
edge/supervision.py's). Threads come from a factory, so every start is a fresh
instance; processes (the recorder) restart themselves when asked.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Generic, Protocol, TypeVar

from edge.runner import Runner
from edge.supervision import Action, Watch, watchdog_ok

logger = logging.getLogger(__name__)


class Supervised(Protocol):
    def start(self) -> None: ...
    def alive(self) -> bool: ...
    def beat_age(self, now: float) -> float: ...
    def blocked(self) -> str | None: ...
    def error(self) -> str | None: ...
    def kill(self) -> None: ...


R = TypeVar("R", bound=Runner)


class ThreadSlot(Generic[R]):
    """A runner thread; ``make`` builds (and wires) a fresh one for every start."""

    def __init__(self, make: Callable[[], R]) -> None:
        self.make = make
        self.current: R | None = None

    def start(self) -> None:
        self.current = self.make()
        self.current.start()

    def alive(self) -> bool:
        return self.current is not None and self.current.is_alive()

    def beat_age(self, now: float) -> float:
        return now - self.current.last_beat if self.current else 0.0

    def blocked(self) -> str | None:
        return self.current.blocked if self.current else None

    def error(self) -> str | None:
        return self.current.crashed if self.current else None

    def kill(self) -> None:
        """A thread cannot be killed: the watchdog goes quiet and systemd steps in."""

    def join(self, timeout: float) -> None:
        if self.current is not None:
            self.current.join(timeout)


class Supervisor:
    def __init__(self) -> None:
        self.watched: list[tuple[Supervised, Watch]] = []

    def add(self, name: str, slot: Supervised, stale_after_s: float) -> Watch:
        watch = Watch(name, stale_after_s)
        self.watched.append((slot, watch))
        return watch

    def tick(self) -> None:
        now = time.monotonic()
        for slot, watch in self.watched:
            action, note = watch.observe(now, slot.alive(), slot.beat_age(now), slot.blocked(),
                                         slot.error())
            if note:
                level = logging.INFO if watch.healthy else logging.ERROR
                logger.log(level, "runner=%s %s", watch.name, note)
            if action is Action.START:
                slot.start()
            elif action is Action.KILL:
                slot.kill()

    def healthy(self) -> bool:
        return watchdog_ok([w for _, w in self.watched])

    def listing(self) -> list[dict[str, object]]:
        mono_to_wall = time.time() - time.monotonic()
        return [w.as_dict(mono_to_wall) for _, w in self.watched]
