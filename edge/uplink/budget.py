"""The SIM's monthly allowance: which days count, how much is used, what to do. Pure.

A month runs from ``billing_day`` to the day before it in the next month (a SIM's
allowance often starts again on a day other than the 1st). Days are the node's local
dates as ``YYYY-MM-DD`` strings, the keys the byte store uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

PURPOSES = ("sip", "mqtt", "media", "other")
MB = 1_000_000  # SIM allowances are sold in decimal megabytes
WARN_AT = 0.8


@dataclass(frozen=True, slots=True)
class Month:
    first: date
    next_first: date

    @property
    def days(self) -> int:
        return (self.next_first - self.first).days

    def contains(self, day: str) -> bool:
        return self.first.isoformat() <= day < self.next_first.isoformat()


@dataclass(frozen=True, slots=True)
class BudgetState:
    used_bytes: int
    budget_bytes: int  # 0: unmetered
    projected_bytes: int  # at this month's pace
    level: str  # "unmetered", "ok", "warning" (>= 80 %), "over" (>= 100 %)

    @property
    def percent(self) -> float | None:
        return round(100 * self.used_bytes / self.budget_bytes, 1) if self.budget_bytes else None


def billing_month(today: date, billing_day: int) -> Month:
    """The allowance month ``today`` falls in."""
    first = today.replace(day=billing_day) if today.day >= billing_day else \
        _shift(today.replace(day=billing_day), -1)
    return Month(first, _shift(first, 1))


def assess(used_bytes: int, budget_mb: int, month: Month, elapsed_days: float) -> BudgetState:
    """Where the month stands; ``elapsed_days`` since ``month.first`` (fractional)."""
    budget = budget_mb * MB
    pace = used_bytes / max(elapsed_days, 1 / 24)  # the first hour is not a month's pace
    projected = int(min(pace * month.days, 1 << 62))
    if not budget:
        level = "unmetered"
    elif used_bytes >= budget:
        level = "over"
    elif used_bytes >= WARN_AT * budget:
        level = "warning"
    else:
        level = "ok"
    return BudgetState(used_bytes, budget, projected, level)


def restricted(state: BudgetState, policy: str) -> bool:
    """Whether to save bytes now: live requests get the sub stream, snapshots wait."""
    return policy == "restrict" and state.level == "over"


def _shift(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    return date(year, month % 12 + 1, 1) + timedelta(days=day.day - 1)
