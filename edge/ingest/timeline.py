"""Map camera timestamps onto the wall clock. Pure: arrival time is passed in.

Cameras' RTP clocks start anywhere, wrap, jump when the camera syncs NTP, and some
send garbage. We trust their *spacing* (that is what keeps playback smooth) but
anchor the absolute time to our own clock at arrival: a stream's time is
``pts + offset``; the offset is set at the first packet and re-set whenever the
result drifts more than ``max_drift_s`` from arrival time or goes backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_DRIFT_S = 3.0
# Before the first RTCP sender report, FFmpeg's RTP streams of one camera start from
# unrelated clocks; a stream whose first timestamp disagrees with the shared offset by
# more than this anchors itself (else its first, untimed keyframe would sit a second
# away from the frames after it).
FIRST_PACKET_TOLERANCE_S = 0.5


@dataclass
class Timeline:
    max_drift_s: float = MAX_DRIFT_S
    # one offset shared by all streams of the camera (the demuxer keeps them in
    # sync), and per-stream overrides for a stream whose clock disagrees
    shared_offset: float | None = None
    own_offset: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    timed: set[int] = field(default_factory=set)  # streams that had a timestamp
    reanchors: int = 0

    def to_wall(self, stream: int, pts_s: float, arrival: float) -> float:
        """Wall-clock time (epoch seconds) of a packet; never decreases per stream."""
        if self.shared_offset is None:
            self.shared_offset = arrival - pts_s
        if stream not in self.timed:
            self.timed.add(stream)
            if abs(pts_s + self.shared_offset - arrival) > FIRST_PACKET_TOLERANCE_S:
                self.own_offset[stream] = arrival - pts_s
        offset = self.own_offset.get(stream, self.shared_offset)
        t = pts_s + offset
        last = self.last.get(stream)
        if abs(t - arrival) > self.max_drift_s or (last is not None and t < last):
            self.reanchors += 1
            t = arrival if last is None else max(arrival, last + 1e-3)
            self.own_offset[stream] = t - pts_s
        self.last[stream] = t
        return t

    def untimed(self, stream: int, arrival: float) -> float:
        """Time for a packet without a timestamp (the first keyframe after connecting
        often has none, before RTCP sync): just after the stream's last packet."""
        last = self.last.get(stream)
        t = arrival if last is None else last + 1e-3
        self.last[stream] = t
        return t
