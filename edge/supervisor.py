"""The supervisor's eye on its runners: it looks at each every half second, logs what
changed, restarts the dead with back-off and kills a stale process (the decisions are
edge/supervision.py's). Threads come from a factory, so every start is a fresh
instance; processes (the recorder) restart themselves when asked.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from typing import Callable, Generic, Protocol, TypeVar

from edge.command import SUPERVISOR_ENV
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

    def add(self, name: str, slot: Supervised, stale_after_s: float,
            start_grace_s: float = 0.0) -> Watch:
        watch = Watch(name, stale_after_s, start_grace_s)
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
                # its start counts from when it was spawned: on a busy box the spawns before
                # it in this tick take seconds, and its first-beat grace must not be spent
                # on them (a detector was killed 30 s into its start after a power cut)
                watch.started_at = time.monotonic()
            elif action is Action.KILL:
                slot.kill()

    def healthy(self) -> bool:
        return watchdog_ok([w for _, w in self.watched])

    def listing(self) -> list[dict[str, object]]:
        mono_to_wall = time.time() - time.monotonic()
        return [w.as_dict(mono_to_wall) for _, w in self.watched]


EXIT_BLOCKED = 3  # a child that cannot work for a reason of its own (its port is taken)


class ChildProcess:
    """A runner in its own process (``python -m edge <command>``). It beats when
    ``probe`` answers (the web UI's health URL), else on every line it prints (a subclass
    may read the lines: ``on_line``); ``send`` writes a line to its stdin."""

    def __init__(self, name: str, argv: list[str], probe: Callable[[], bool] | None = None,
                 probe_every_s: float = 2.0, stdin: bool = False) -> None:
        self.name = name
        self.argv = argv
        self.probe = probe
        self.probe_every_s = probe_every_s
        self.with_stdin = stdin
        self.proc: subprocess.Popen[str] | None = None
        self.last_beat = 0.0
        self._stdin_lock = threading.Lock()

    def start(self) -> None:
        if self.proc is not None and self.proc.stdin:
            self.proc.stdin.close()
        self.last_beat = time.monotonic()  # its first sign of life is due within the stale time
        # glibc gives every thread its own malloc arena; a threaded server (the web UI's
        # streams, the camera threads) then keeps tens of MB it no longer uses (measured:
        # the web process at 60 MB after a 16-tile page, 36 MB with two arenas)
        env = {"MALLOC_ARENA_MAX": "2", **os.environ, SUPERVISOR_ENV: str(os.getpid())}
        self.proc = subprocess.Popen(
            self.argv, env=env, stdin=subprocess.PIPE if self.with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if self.probe is None else None, text=True, bufsize=1)
        threading.Thread(target=self._watch, args=(self.proc,), name=f"{self.name}-watch",
                         daemon=True).start()

    def _watch(self, proc: subprocess.Popen[str]) -> None:
        if self.probe is None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.on_line(line)
            self.on_exit()
            return
        while proc.poll() is None:
            if self.probe():
                self.last_beat = time.monotonic()
            time.sleep(self.probe_every_s)

    def on_line(self, line: str) -> None:
        self.last_beat = time.monotonic()

    def on_exit(self) -> None:
        """Its output ended (it died or stopped)."""

    def send(self, line: str) -> bool:
        """A line to its stdin; False if it is not running."""
        proc = self.proc
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return False
        try:
            with self._stdin_lock:
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def beat_age(self, now: float) -> float:
        return now - self.last_beat

    def blocked(self) -> str | None:
        code = self.proc.poll() if self.proc else None
        return f"{self.name} cannot listen (see its log)" if code == EXIT_BLOCKED else None

    def error(self) -> str | None:
        code = self.proc.poll() if self.proc else None
        return None if code is None else f"{self.name} process exited with {code}"

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            logger.error("runner=%s process %d stopped answering; killing it", self.name,
                         self.proc.pid)
            self.proc.kill()

    def stop(self, timeout: float) -> None:
        """SIGTERM (it finishes cleanly), SIGKILL after ``timeout``."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.error("runner=%s did not stop in %.0f s; killing it", self.name, timeout)
            self.proc.kill()
            self.proc.wait()
