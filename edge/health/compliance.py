"""The township's monthly assessment sheet, per camera and in total. Pure.

For one camera and one month: its online rate and its working rate (online with no
picture fault open; time the node was not running left out, as
edge/health/availability.py counts it), hours recorded against the hours the node
watched it, the gaps in its footage longer than a minute, the days of footage kept
against its legal minimum, and how often its clock could not be corrected (统一时间). A
camera is *in order* (完好) when it was working at least
98 % of the observed time and keeps its legal days; the key-area total is judged against
the programme's 98 % target.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.health.availability import Availability
from edge.record.coverage import Range

TARGET = 0.98
GAP_MIN_S = 60.0


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    key_area: bool
    online_rate: float | None
    working_rate: float | None
    observed_h: float
    recorded_h: float
    gaps: int
    days_kept: float
    legal_min_days: int
    young: bool  # the node has not been running as long as the legal minimum
    clock_faults: int = 0  # times its clock could not be corrected (统一时间), this month

    @property
    def days_ok(self) -> bool:
        return self.young or self.days_kept >= self.legal_min_days

    @property
    def in_order(self) -> bool | None:
        if self.working_rate is None:
            return None
        return self.working_rate >= TARGET and self.days_ok


def row(cam_id: str, name: str, key_area: bool, availability: Availability,
        recorded: list[Range], start: float, end: float, days_kept: float,
        legal_min_days: int, node_days: float, clock_faults: int = 0) -> Row:
    """``recorded``: the camera's ranges clipped to [start, end]."""
    hours = sum(r.end - r.start for r in recorded) / 3600
    gaps = sum(1 for a, b in zip(recorded, recorded[1:]) if b.start - a.end > GAP_MIN_S)
    return Row(cam_id, name, key_area, availability.online_rate, availability.working_rate,
               round(availability.observed_s / 3600, 1), round(hours, 1), gaps,
               round(days_kept, 1), legal_min_days, node_days < legal_min_days, clock_faults)


@dataclass(frozen=True)
class Totals:
    key_in_order: float | None  # share of key-area cameras in order
    all_online: float | None  # mean online rate of every observed camera
    key_met: bool | None


def totals(rows: list[Row]) -> Totals:
    key = [r.in_order for r in rows if r.key_area and r.in_order is not None]
    rates = [r.online_rate for r in rows if r.online_rate is not None]
    share = sum(key) / len(key) if key else None
    return Totals(share, sum(rates) / len(rates) if rates else None,
                  None if share is None else share >= TARGET)
