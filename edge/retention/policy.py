"""What retention deletes, and in which order. Pure: segments, locks and time come in.

Two reasons to delete footage:
- age: a segment that ended more than the channel's ``keep_days`` ago;
- space: the disk crossed its watermark. Then the oldest unlocked footage goes
  first, taken from footage beyond its channel's legal minimum before any footage
  that is still within it (GB/T 28181 nodes must keep 60 / 90 days).
Locked (evidence) ranges are never selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from edge.record.index import Lock, Segment

DAY_S = 86_400.0
# once over the watermark, free this much more than the minimum, so that the
# cleaner does not run again for every new segment
HYSTERESIS = 0.1


@dataclass(frozen=True)
class ChannelRule:
    channel_id: str
    keep_days: int
    legal_min_days: int


def is_locked(seg: Segment, locks: Iterable[Lock]) -> bool:
    return any(
        lock.channel_id == seg.channel_id and lock.start_ts <= seg.end_ts and seg.start_ts <= lock.end_ts
        for lock in locks
    )


def select_expired(segments: Iterable[Segment], locks: Sequence[Lock], rule: ChannelRule,
                   now: float) -> list[Segment]:
    cutoff = now - rule.keep_days * DAY_S
    return [s for s in segments if s.end_ts < cutoff and not is_locked(s, locks)]


def required_free_bytes(total: int, min_free_percent: float, min_free_gb: float) -> int:
    return int(max(total * min_free_percent / 100, min_free_gb * 1024**3))


def bytes_to_free(total: int, free: int, min_free_percent: float, min_free_gb: float) -> int:
    """0 when the disk is above its watermark, else how much to delete."""
    required = required_free_bytes(total, min_free_percent, min_free_gb)
    if free >= required:
        return 0
    return required - free + int(required * HYSTERESIS)


def select_for_space(
    candidates: Iterable[Segment], locks: Sequence[Lock], rules: dict[str, ChannelRule],
    needed: int, now: float,
) -> list[Segment]:
    """Oldest unlocked first, beyond-legal-minimum footage before the rest."""
    def beyond_minimum(seg: Segment) -> bool:
        rule = rules.get(seg.channel_id)
        return rule is None or seg.end_ts < now - rule.legal_min_days * DAY_S

    pool = [s for s in candidates if not is_locked(s, locks)]
    pool.sort(key=lambda s: (not beyond_minimum(s), s.start_ts))
    chosen: list[Segment] = []
    freed = 0
    for seg in pool:
        if freed >= needed:
            break
        chosen.append(seg)
        freed += seg.bytes
    return chosen


def kept_days(oldest_start: float | None, now: float) -> float:
    return 0.0 if oldest_start is None else max(0.0, (now - oldest_start) / DAY_S)
