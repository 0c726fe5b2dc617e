"""Runner: apply the retention policy to the index and the disk every few seconds."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from edge import bootnotes, faults
from edge.config import EdgeConfig
from edge.record.index import Index, Segment
from edge.retention.policy import (
    DAY_S, ChannelRule, bytes_to_free, kept_days, select_expired, select_for_space,
)
from edge.runner import Runner, survive
from edge.voice import evidence

logger = logging.getLogger(__name__)

ALARM_BELOW_MINIMUM = "retention_below_minimum"
BATCH = 500  # segments looked at per query; 16 channels x 1440 segments a day
SPACE_ROUNDS = 20
STAND_IN_MIN_FREE_GB = 0.3  # the root partition's room for the journal, settings, updates


@dataclass
class RetentionResult:
    expired: list[Segment] = field(default_factory=list)
    for_space: list[Segment] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)


def stale_after(cfg: EdgeConfig) -> float:
    """A pass every check interval; several missed means the loop is wedged."""
    return max(60.0, 3 * cfg.storage.check_interval_s)


class RetentionManager(Runner):
    def __init__(self, cfg: EdgeConfig, stop: threading.Event,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__("retention", stop)
        self.cfg = cfg
        self.clock = clock
        self.stale_after_s = stale_after(cfg)
        self.space_stuck = False  # log "nothing left to delete" once, not every pass

    def loop(self) -> None:
        index = Index(self.cfg.data_dir)
        try:
            while True:
                faults.check("retention.loop")
                with survive(logger, "retention pass"):
                    try:
                        self.run_once(index, self.clock())
                    except (OSError, sqlite3.Error) as exc:
                        logger.error("retention pass failed: %s", exc)
                self.beat()
                if self.stop_event.wait(self.cfg.storage.check_interval_s):
                    break
        finally:
            index.close()

    def rules(self, index: Index) -> dict[str, ChannelRule]:
        ret = self.cfg.retention
        rules = {c.id: ChannelRule(c.id, c.keep_days(ret), c.legal_min_days(ret))
                 for c in self.cfg.cameras}
        # footage of a camera removed from the config still obeys the ordinary rule
        for channel in index.channel_ids():
            rules.setdefault(channel, ChannelRule(channel, ret.ordinary_days, ret.ordinary_days))
        return rules

    def run_once(self, index: Index, now: float) -> RetentionResult:
        result = RetentionResult()
        rules = self.rules(index)
        locks = index.locks()
        for rule in rules.values():
            while True:
                old = index.segments_ending_before(rule.channel_id, now - rule.keep_days * DAY_S, BATCH)
                expired = select_expired(old, locks, rule, now)
                if not expired:
                    break
                self._delete_segments(index, expired)
                result.expired += expired
        if result.expired:
            logger.info("retention: deleted %d expired segments", len(result.expired))
        self._free_space(index, rules, locks, now, result)
        self._update_alarms(index, rules, now, {s.channel_id for s in result.for_space}, result)
        for rel in index.delete_events_before(now - self.cfg.retention.event_days * DAY_S):
            picture = self.cfg.data_dir / rel
            picture.unlink(missing_ok=True)
            picture.with_suffix(".crop.jpg").unlink(missing_ok=True)  # a detection's crop
        evidence.purge(self.cfg.data_dir, self.cfg.retention.event_days)  # broadcasts said
        return result

    def _free_space(self, index: Index, rules: dict[str, ChannelRule], locks: list,
                    now: float, result: RetentionResult) -> None:
        storage = self.cfg.storage
        # the data partition is not in use this boot and the data directory is a stand-in
        # on the small root: keep its reserve (the system's own room), not the data disk's
        min_free_gb = STAND_IN_MIN_FREE_GB if bootnotes.stand_in() else storage.min_free_gb
        for _ in range(SPACE_ROUNDS):
            usage = shutil.disk_usage(self.cfg.data_dir)
            needed = bytes_to_free(usage.total, usage.free, storage.min_free_percent, min_free_gb)
            if not needed:
                return
            candidates = [s for ch in rules for s in index.oldest_segments(ch, BATCH)]
            chosen = select_for_space(candidates, locks, rules, needed, now)
            if not chosen:
                if not self.space_stuck:
                    logger.error("disk below watermark (%d MB short) and nothing left to "
                                 "delete: all remaining footage is locked or being written",
                                 needed // 2**20)
                self.space_stuck = True
                return
            self.space_stuck = False
            self._delete_segments(index, chosen)
            result.for_space += chosen
            logger.warning("disk below watermark: deleted %d oldest segments (%d MB)",
                           len(chosen), sum(s.bytes for s in chosen) // 2**20)

    def _update_alarms(self, index: Index, rules: dict[str, ChannelRule], now: float,
                       cut_for_space: set[str], result: RetentionResult) -> None:
        for rule in rules.values():
            oldest, _, _, _ = index.summary(rule.channel_id)
            days = kept_days(oldest, now)
            if days >= rule.legal_min_days:
                index.clear_alarm(rule.channel_id, ALARM_BELOW_MINIMUM, now)
                continue
            # a young channel is not a violation; footage deleted for space is
            deleted_within_minimum = rule.channel_id in cut_for_space and any(
                s.channel_id == rule.channel_id and s.end_ts >= now - rule.legal_min_days * DAY_S
                for s in result.for_space
            )
            if deleted_within_minimum:
                message = (f"通道 {rule.channel_id} 录像仅能保存 {days:.1f} 天, 低于法定最低 "
                           f"{rule.legal_min_days} 天 (磁盘空间不足) channel keeps only {days:.1f} "
                           f"days, below its legal minimum of {rule.legal_min_days} (disk full)")
                index.raise_alarm(rule.channel_id, ALARM_BELOW_MINIMUM, message, now)
                result.alarms.append(rule.channel_id)
                logger.error("channel=%s %s", rule.channel_id, message)

    def _delete_segments(self, index: Index, segments: list[Segment]) -> None:
        for seg in segments:
            path = index.absolute(seg)
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # the day folder, once empty
            except OSError:
                pass
        index.delete_segments(s.id for s in segments)
