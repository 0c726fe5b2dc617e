"""Camera online rate from recorded state changes. Pure.

The national target (98 % of key-area cameras in working order) is judged on these
numbers, so they are honest: time the node itself was not running is not counted as
online or offline, it is left out, and the observed share of the window is reported
beside the rate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Availability:
    online_rate: float | None  # online seconds / observed seconds; None if never observed
    observed_s: float


def online_rate(sessions: list[tuple[float, float]], changes: list[tuple[float, bool]],
                start: float, end: float) -> Availability:
    """``sessions``: (start, end) periods the node was watching; ``changes``: (ts, online)
    state records of one camera, oldest first, each session beginning with one."""
    observed = online = 0.0
    for s_start, s_end in sessions:
        lo, hi = max(s_start, start), min(s_end, end)
        if lo >= hi:
            continue
        observed += hi - lo
        state = False  # until the session's first record (written when it starts)
        at = s_start
        for ts, is_online in changes:
            if ts < s_start:
                continue
            if ts >= s_end:
                break
            if state:
                online += max(0.0, min(ts, hi) - max(at, lo))
            state, at = is_online, ts
        if state:
            online += max(0.0, hi - max(at, lo))
    return Availability(online / observed if observed > 0 else None, observed)
