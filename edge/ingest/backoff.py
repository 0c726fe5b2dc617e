"""Reconnect delays for a camera that is down. Pure: the caller passes time and randomness."""

from __future__ import annotations

import random
from dataclasses import dataclass

MIN_DELAY_S = 1.0
MAX_DELAY_S = 30.0
# The delay grows with how long the camera has been down, not with the attempt
# count: a short outage (a camera reboot, ~10 s) is retried every second or two, so
# recording resumes within ~3 s of the camera's return, while a camera that has
# been dead for minutes is polled every 30 s.
GROWTH = 0.125  # delay = 12.5 % of the outage so far
JITTER = 0.2  # +-20 %, so cameras behind one switch do not retry in lockstep


@dataclass
class Backoff:
    min_delay_s: float = MIN_DELAY_S
    max_delay_s: float = MAX_DELAY_S
    down_since: float | None = None

    def next_delay(self, now: float, rng: random.Random) -> float:
        if self.down_since is None:
            self.down_since = now
        base = min(self.max_delay_s, max(self.min_delay_s, GROWTH * (now - self.down_since)))
        return base * rng.uniform(1 - JITTER, 1 + JITTER)

    def reset(self) -> None:
        self.down_since = None
