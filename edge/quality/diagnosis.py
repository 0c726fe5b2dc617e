"""One camera's picture faults, sample by sample, with onset and clear hysteresis. Pure.

Each sample (one frame every ``quality.interval``) is judged against the camera's own
baseline, learned from its first healthy samples and kept apart for day (colour) and
night (infrared, no colour), then followed slowly while the picture is healthy. The
faults that describe the whole picture exclude one another, the most basic first (a black
screen is not also "too dark", a lens sprayed over is not also "blurred"):

    signal  no signal: one flat colour (black, blue, grey screen)
    dark / bright   too dark, over-exposed
    noise   grain or interference far above the camera's usual
    turned  the camera looks elsewhere: its edges no longer match the usual view
    covered a large part of the picture lost its detail (lens covered, sprayed, a leaf)
    blur    nearly all of it did (focus lost, fogged lens)
    cast    a colour cast: the mean colour moved far from the camera's usual one (a
            failing infrared-cut filter), or is extreme from the start

and ``frozen`` (the same picture again and again while the stream runs) is judged beside
them. A fault is raised after ``onset`` bad samples in a row and cleared after ``clear``
good ones, so it neither flaps nor is missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.quality.metrics import Measure, changed, likeness

EXCLUSIVE = ("signal", "dark", "bright", "noise", "turned", "covered", "blur", "cast")
FAULTS = EXCLUSIVE + ("frozen",)
NEEDS_BASELINE = {"noise", "turned", "covered", "blur"}
MESSAGES = {
    "signal": "无视频信号 (黑屏/蓝屏/单色) no signal: the picture is one flat colour",
    "dark": "画面过暗 picture too dark",
    "bright": "画面过亮 picture over-exposed",
    "noise": "画面噪声/干扰 noise or interference in the picture",
    "turned": "场景变更 (摄像机被转动) the camera looks elsewhere (turned)",
    "covered": "画面遮挡 part of the picture is covered",
    "blur": "画面模糊 picture blurred",
    "cast": "画面偏色 colour cast",
    "frozen": "画面冻结 picture frozen",
}


@dataclass(frozen=True, slots=True)
class QualitySettings:
    onset: int = 3  # bad samples in a row before a fault is raised
    clear: int = 3  # good samples in a row before it is cleared
    learn: int = 3  # healthy samples that make the first baseline
    follow: float = 0.05  # weight of a healthy sample in the baseline after that
    flat_std: float = 6.0  # the whole picture this even: no signal
    dark_luma: float = 35.0
    bright_luma: float = 225.0
    bright_saturated: float = 0.4
    noise_factor: float = 2.0  # times the baseline's grain (the usual one varies by ~10 %)
    noise_min: float = 4.0  # grey levels: below this, grain is no fault whatever the baseline
    lost: float = 0.12  # a block with less than this share of its usual detail lost it
    covered_share: float = 0.3  # of the detailed blocks; from blur_share on: blur
    blur_share: float = 0.8
    turned: float = 0.3  # likeness of the edges to the usual view (same view: ~0.8)
    cast: float = 15.0  # Lab a/b distance of the mean colour from the baseline's
    cast_absolute: float = 45.0  # ... or from neutral (a grass field is about 20)
    frozen: float = 0.0005  # at most this share of the picture changed between samples
    # (people passing change ~5 %; a real camera's clock on the picture changes ~0.3 %)


@dataclass
class Baseline:
    blocks: np.ndarray
    noise: float
    ab: tuple[float, float]
    edges: np.ndarray
    samples: int = 1


@dataclass(frozen=True, slots=True)
class Change:
    fault: str
    raised: bool
    detail: str


@dataclass
class Diagnosis:
    settings: QualitySettings = field(default_factory=QualitySettings)
    baselines: dict[str, Baseline] = field(default_factory=dict)  # "day", "night"
    open: set[str] = field(default_factory=set)
    _bad: dict[str, int] = field(default_factory=dict)
    _good: dict[str, int] = field(default_factory=dict)
    _last: np.ndarray | None = None

    def sample(self, m: Measure) -> list[Change]:
        """Judge one picture; the faults raised or cleared by it."""
        found, details = self.judge(m)
        self._last = m.grey
        out: list[Change] = []
        for fault in FAULTS:
            if fault in found:
                self._bad[fault] = self._bad.get(fault, 0) + 1
                self._good[fault] = 0
                if fault not in self.open and self._bad[fault] >= self.settings.onset:
                    self.open.add(fault)
                    out.append(Change(fault, True, details.get(fault, "")))
            else:
                self._good[fault] = self._good.get(fault, 0) + 1
                self._bad[fault] = 0
                if fault in self.open and self._good[fault] >= self.settings.clear:
                    self.open.discard(fault)
                    out.append(Change(fault, False, ""))
        if not found:
            self._learn(m)
        return out

    def judge(self, m: Measure) -> tuple[set[str], dict[str, str]]:
        """The faults this one picture shows, with what was measured."""
        s = self.settings
        base = self.baselines.get("night" if m.night else "day")
        if base is not None and base.samples < s.learn:
            base = None  # still learning
        checks: list[tuple[str, bool, str]] = [
            ("signal", m.luma_std < s.flat_std, f"std {m.luma_std:.1f}"),
            ("dark", m.luma < s.dark_luma, f"luma {m.luma:.0f}"),
            ("bright", m.luma > s.bright_luma or m.saturated > s.bright_saturated,
             f"luma {m.luma:.0f}, saturated {m.saturated:.0%}"),
        ]
        if base is not None:
            lost = self._lost_share(m, base)
            view = likeness(base.edges, m.edges)
            checks += [
                ("noise", m.noise > max(s.noise_min, s.noise_factor * base.noise),
                 f"grain {m.noise:.1f} (usual {base.noise:.1f})"),
                ("turned", view < s.turned and lost < s.blur_share,
                 f"likeness to the usual view {view:.2f}"),
                ("covered", s.covered_share <= lost < s.blur_share,
                 f"{lost:.0%} of the picture lost its detail"),
                ("blur", lost >= s.blur_share, f"{lost:.0%} of the picture lost its detail"),
            ]
        if not m.night:
            usual = base.ab if base is not None else (0.0, 0.0)
            shift = float(np.hypot(m.ab[0] - usual[0], m.ab[1] - usual[1]))
            extreme = float(np.hypot(*m.ab))
            checks.append(("cast", (base is not None and shift > s.cast)
                           or extreme > s.cast_absolute,
                           f"colour moved {shift:.0f} from the usual (Lab a/b)"))
        found: set[str] = set()
        details: dict[str, str] = {}
        for fault, bad, detail in checks:
            if bad:
                found, details = {fault}, {fault: detail}
                break
        if "signal" not in found and self._last is not None \
                and changed(self._last, m.grey) < s.frozen:
            found.add("frozen")
            details["frozen"] = "the same picture as the last sample"
        return found, details

    def _lost_share(self, m: Measure, base: Baseline) -> float:
        """Share of the usually detailed blocks that lost most of their detail."""
        detailed = base.blocks > max(20.0, float(np.median(base.blocks)) * 0.2)
        if detailed.sum() < 6 or m.blocks.shape != base.blocks.shape:
            return 0.0
        lost = m.blocks < self.settings.lost * base.blocks
        return float((lost & detailed).sum() / detailed.sum())

    def _learn(self, m: Measure) -> None:
        """A healthy picture: the first ones make the baseline, later ones move it slowly
        (leaves grow, seasons change; a sudden change is a fault, not followed)."""
        key = "night" if m.night else "day"
        base = self.baselines.get(key)
        if base is None or base.blocks.shape != m.blocks.shape:
            self.baselines[key] = Baseline(m.blocks.copy(), m.noise, m.ab, m.edges.copy())
            return
        learning = base.samples < self.settings.learn
        w = 1.0 / (base.samples + 1) if learning else self.settings.follow
        base.blocks = (1 - w) * base.blocks + w * m.blocks
        base.noise = (1 - w) * base.noise + w * m.noise
        base.ab = ((1 - w) * base.ab[0] + w * m.ab[0], (1 - w) * base.ab[1] + w * m.ab[1])
        base.edges = (1 - w) * base.edges + w * m.edges
        if learning:
            base.samples += 1

    def accept_view(self) -> None:
        """The technician says the new view is right: learn the camera again."""
        self.baselines.clear()
        self._bad.clear()
        self._good.clear()

