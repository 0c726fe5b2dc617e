"""Who is told what, and how often: the receiver's event kinds and cameras, its quiet hours,
and the rate limit that folds a burst into "and 7 more". Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config import QUIET_RANGE

WINDOW_S = 600.0  # the rate limit's window: ten minutes


def quiet(ranges: tuple[str, ...], hour: int, minute: int) -> bool:
    """Whether the local time falls in one of ``ranges`` (start inclusive, end exclusive)."""
    now = hour * 60 + minute
    for text in ranges:
        match = QUIET_RANGE.fullmatch(text)
        if match is None:
            continue
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if (start <= now < end) if start < end else (now >= start or now < end):
            return True
    return False


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
