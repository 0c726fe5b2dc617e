"""Camera online rate from recorded state changes. Pure.

The national target (98 % of key-area cameras in working order, 完好率) is judged on these
numbers, so they are honest: time the node itself was not running is not counted as
online or offline, it is left out, and the observed share of the window is reported
beside the rate. *Working* is online with no picture fault open (quality diagnosis: no
signal, frozen, blurred, covered, turned away ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True, slots=True)
class Availability:
    online_rate: float | None  # online seconds / observed seconds; None if never observed
    observed_s: float
    working_rate: float | None = None  # online and without a picture fault


def online_rate(sessions: list[tuple[float, float]], changes: list[tuple[float, bool]],
                start: float, end: float,
                faults: Sequence[tuple[float, float | None]] = ()) -> Availability:
    """``sessions``: (start, end) periods the node was watching; ``changes``: (ts, online)
    state records of one camera, oldest first, each session beginning with one;
    ``faults``: (raised, cleared or None while open) picture faults of the camera."""
    observed = 0.0
    up: list[tuple[float, float]] = []
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
                up.append((max(at, lo), min(ts, hi)))
            state, at = is_online, ts
        if state:
            up.append((max(at, lo), hi))
    if observed <= 0:
        return Availability(None, observed, None)
    online = sum(max(0.0, b - a) for a, b in up)
    broken = sum(max(0.0, min(b, f_end if f_end is not None else end) - max(a, f_start))
                 for a, b in up for f_start, f_end in _merged(faults))
    return Availability(online / observed, observed, (online - broken) / observed)


def _merged(periods: Sequence[tuple[float, float | None]]) -> list[tuple[float, float | None]]:
    """Overlapping fault periods as one (two faults at once are not twice the time)."""
    out: list[tuple[float, float | None]] = []
    for start, end in sorted(periods, key=lambda p: p[0]):
        if out and (out[-1][1] is None or start <= out[-1][1]):
            last_start, last_end = out[-1]
            out[-1] = (last_start, None if end is None or last_end is None
                       else max(last_end, end))
        else:
            out.append((start, end))
    return out
