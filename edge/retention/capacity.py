"""Capacity plan: how many days each channel can keep on this disk. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from edge.retention.policy import DAY_S

ASSUMED_BITRATE_BPS = 4_000_000  # a 1080p H.264 main stream, for channels never recorded


@dataclass(frozen=True)
class ChannelNeed:
    channel_id: str
    byte_rate: float | None  # measured bytes per second of footage
    keep_days: int
    legal_min_days: int


@dataclass(frozen=True)
class ChannelPlan:
    channel_id: str
    bitrate_bps: float
    measured: bool
    keep_days: int
    legal_min_days: int
    achievable_days: float

    @property
    def short(self) -> bool:
        return self.achievable_days < self.legal_min_days


def plan(needs: list[ChannelNeed], budget_bytes: float) -> list[ChannelPlan]:
    """Share ``budget_bytes`` in proportion to what each channel's target needs."""
    rates = {n.channel_id: n.byte_rate or ASSUMED_BITRATE_BPS / 8 for n in needs}
    wanted = sum(rates[n.channel_id] * n.keep_days * DAY_S for n in needs)
    scale = budget_bytes / wanted if wanted > 0 else 0.0
    return [
        ChannelPlan(
            channel_id=n.channel_id, bitrate_bps=rates[n.channel_id] * 8,
            measured=n.byte_rate is not None, keep_days=n.keep_days,
            legal_min_days=n.legal_min_days, achievable_days=n.keep_days * max(scale, 0.0),
        )
        for n in needs
    ]
