"""Runner supervision decisions: which runner is healthy, which to restart and when,
and whether systemd may be told the daemon is alive. Pure: the supervisor feeds each
Watch what it sees (alive? how long since the last beat? blocked? why it died) and the
monotonic time, and carries out the action it gets back.

A runner that dies is restarted with back-off: 0.5 s, doubled for every death in a row
that came within 10 s of its start (a crash loop), up to 30 s. A dead or stale runner withholds the watchdog ping, so where
in-process restarts cannot help (a wedged thread cannot be killed, a runner that dies
at every start), systemd restarts the whole daemon. A blocked runner (its port taken,
a reason a restart will not fix) is retried slowly and does not withhold the ping:
restarting the daemon would cost recording and fix nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
QUICK_DEATH_S = 10.0  # dying sooner than this after a start doubles the next delay
BLOCKED_RETRY_S = 30.0
# until its first beat a child process may take this long (imports, the recorder's reconcile
# of a full disk's index, the detector's model): on the emulated A53 of the boot test the
# recorder's start took over 10 s, and the web UI's over 30 s while the box recovered from
# a power cut, and each was killed as stale again and again
START_GRACE_S = 180.0


class State(enum.Enum):
    STARTING = "starting"  # started, no beat missed yet
    RUNNING = "running"
    STALE = "stale"  # alive but its loop stopped turning
    DEAD = "dead"  # waiting for its restart
    BLOCKED = "blocked"  # cannot work for a reason of its own; retried slowly


class Action(enum.Enum):
    NONE = "none"
    START = "start"  # start a new instance (or the first)
    KILL = "kill"  # stale: kill it if it is a process (a thread cannot be)


@dataclass
class Watch:
    name: str
    stale_after_s: float
    start_grace_s: float = 0.0  # the limit until its first beat, if longer than stale_after_s
    state: State = State.DEAD
    restarts: int = 0
    quick_deaths: int = 0  # deaths in a row, each within QUICK_DEATH_S of its start
    started_at: float = 0.0
    restart_at: float | None = 0.0  # the first start is due at once
    started: bool = False
    last_error: str | None = None
    changed_at: float = 0.0

    def observe(self, now: float, alive: bool, beat_age_s: float, blocked: str | None,
                error: str | None) -> tuple[Action, str | None]:
        """The action to take now, and a note to log when the state changed."""
        if alive:
            return self._alive(now, beat_age_s)
        if self.restart_at is None:  # it just ended
            if blocked:
                again = blocked == self.last_error  # log a reason once, not every retry
                self.restart_at = now + BLOCKED_RETRY_S
                self.last_error = blocked
                note = self._enter(State.BLOCKED, now, f"blocked: {blocked}; retrying every "
                                                       f"{BLOCKED_RETRY_S:.0f} s")
                return Action.NONE, None if again else note
            quick = self.started and now - self.started_at < QUICK_DEATH_S
            self.quick_deaths = self.quick_deaths + 1 if quick else 0
            delay = min(RESTART_MAX_S, RESTART_FIRST_S * 2 ** max(0, self.quick_deaths - 1))
            self.restart_at = now + delay
            self.last_error = error or "ended without a reason"
            return Action.NONE, self._enter(State.DEAD, now, f"died: {self.last_error}; "
                                                             f"restart in {delay:.1f} s")
        if now >= self.restart_at:
            again = self.started
            if again:
                self.restarts += 1
            self.started = True
            self.restart_at = None
            self.started_at = now
            return Action.START, self._enter(
                State.STARTING, now, f"restarting (restart {self.restarts})" if again else None)
        return Action.NONE, None

    def _alive(self, now: float, beat_age_s: float) -> tuple[Action, str | None]:
        first_beat_due = beat_age_s >= now - self.started_at - 0.5  # none since its start
        limit = max(self.stale_after_s, self.start_grace_s) if first_beat_due \
            else self.stale_after_s
        if beat_age_s > limit:
            note = self._enter(State.STALE, now, f"stale: no progress for {beat_age_s:.0f} s")
            return Action.KILL, note
        was = self.state
        note = self._enter(State.RUNNING, now, None)
        if was is State.STALE or (was is State.STARTING and self.restarts):
            note = "running again"
        return Action.NONE, note

    def _enter(self, state: State, now: float, note: str | None) -> str | None:
        if state is self.state:
            return None
        self.state = state
        self.changed_at = now
        return note

    @property
    def healthy(self) -> bool:
        """Whether this runner lets the watchdog ping go out."""
        return self.state in (State.STARTING, State.RUNNING, State.BLOCKED)

    def as_dict(self, mono_to_wall: float) -> dict[str, object]:
        return {"name": self.name, "state": self.state.value, "restarts": self.restarts,
                "last_error": self.last_error,
                "since_ts": round(self.changed_at + mono_to_wall, 3)}


def watchdog_ok(watches: list[Watch]) -> bool:
    return all(w.healthy for w in watches)
