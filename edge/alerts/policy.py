"""How often a receiver is told: the rate limit that folds a burst into "and 7 more". Pure.
(Quiet hours: edge/timeranges.py.)"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW_S = 600.0  # the rate limit's window: ten minutes


@dataclass
class Limiter:
    """At most ``limit`` alerts per key (receiver and rule) in any WINDOW_S; the ones held
    back are counted and told with the next one that goes."""

    limit: int
    sent: dict[str, list[float]] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)

    def admit(self, key: str, now: float) -> tuple[bool, int]:
        """Whether to send now, and how many held-back ones it carries."""
        recent = [t for t in self.sent.get(key, []) if now - t < WINDOW_S]
        if len(recent) >= self.limit:
            self.sent[key] = recent
            self.held[key] = self.held.get(key, 0) + 1
            return False, 0
        self.sent[key] = recent + [now]
        return True, self.held.pop(key, 0)
