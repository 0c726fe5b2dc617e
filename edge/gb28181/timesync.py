"""Whether to step the system clock to an upper platform's SIP Date (node.time_source =
"sip"; GB/T 28181 9.10). Pure: the runner does the stepping and the audit.

A village box often has no NTP, and some have no RTC (they boot in 1970 or at the last
saved time), so the platform's clock is the best one available. But a misconfigured
platform must not drag the recordings' timestamps by hours: steps are bounded unless our
own clock was plainly never set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

STEP_THRESHOLD_S = 1.0
MAX_STEP_S = 600.0
CLOCK_UNSET_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True, slots=True)
class ClockDecision:
    step_s: float  # 0: leave the clock alone
    reason: str


def decide_step(offset_s: float, local_now: float) -> ClockDecision:
    """``offset_s`` is the platform's time minus ours, at ``local_now`` (our wall clock)."""
    if abs(offset_s) <= STEP_THRESHOLD_S:
        return ClockDecision(0.0, f"within {STEP_THRESHOLD_S:.0f} s")
    if local_now + offset_s < CLOCK_UNSET_BEFORE:
        return ClockDecision(0.0, "refused: the platform's clock is before 2025")
    if local_now < CLOCK_UNSET_BEFORE:
        return ClockDecision(offset_s, "our clock was never set (before 2025)")
    if abs(offset_s) > MAX_STEP_S:
        return ClockDecision(0.0, f"refused: {offset_s:+.0f} s is more than "
                                  f"{MAX_STEP_S:.0f} s; check the platform or set the time by hand")
    return ClockDecision(offset_s, f"{offset_s:+.1f} s")
