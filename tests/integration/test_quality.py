"""Video quality diagnosis against the real daemon: ten simulated cameras loop vtest's
street, nine of them with a fault in the second half of the loop (lost signal, frozen,
blurred, covered, dark, over-exposed, tinted, turned, noisy). Each raises exactly its
alarm, which clears when the picture recovers; the healthy camera raises none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.record.index import Index
from edge.sim.server import CameraServer
from tests.conftest import Daemon, degraded_clips, wait_for, write_config

EXPECTED = {"black": "signal", "frozen": "frozen", "blur": "blur", "covered": "covered",
            "dark": "dark", "bright": "bright", "tint": "cast", "turned": "turned",
            "noise": "noise"}


def channel(i: int) -> str:
    return f"340200000013200000{i + 1:02d}"


@pytest.fixture(scope="module")
def node(gstreamer: None, tmp_path_factory: pytest.TempPathFactory):
    clips = degraded_clips(tuple(EXPECTED))
    effects = list(clips)  # None (healthy) first
    tmp = tmp_path_factory.mktemp("quality")
    data = tmp / "data"
    mounts = {f"/q{i}": clip for i, clip in enumerate(clips.values())}
    with CameraServer(mounts) as server:
        config = write_config(tmp / "edge.toml", data,
                              [(channel(i), server.url(f"/q{i}")) for i in range(len(mounts))],
                              extra="[web]\nenabled = false\n[quality]\ninterval = 1\n"
                                    "onset = 2\nclear = 2")
        daemon = Daemon(config).start()
        try:
            yield data, effects
        finally:
            daemon.stop()


def alarms(data: Path) -> list:
    if not (data / "edge.db").exists():
        return []
    index = Index(data, readonly=True)
    try:
        return [a for a in index.alarms(open_only=False) if a.kind.startswith("quality_")]
    finally:
        index.close()


def test_each_fault_raises_exactly_its_alarm_and_clears_when_the_picture_recovers(node) -> None:
    data, effects = node
    faulty = {channel(i): EXPECTED[e] for i, e in enumerate(effects) if e}

    def raised_and_cleared() -> bool:
        done = {a.channel_id for a in alarms(data) if a.cleared_ts is not None}
        return set(faulty) <= done

    wait_for(raised_and_cleared, 120, "every fault raised and cleared once")
    seen: dict[str, set[str]] = {}
    for alarm in alarms(data):
        seen.setdefault(alarm.channel_id, set()).add(alarm.kind.removeprefix("quality_"))
        assert alarm.message  # says what, in Chinese and English
    report = json.dumps({ch: sorted(k) for ch, k in seen.items()})
    for ch, fault in faulty.items():
        assert seen.get(ch) == {fault}, report
    assert channel(0) not in seen, report  # the healthy camera


def test_quality_state_is_in_the_detector_status(node) -> None:
    data, _ = node

    def looked_20_times() -> dict:
        status = json.loads((data / "detect.json").read_text())
        cams = {c["id"]: c for c in status["cameras"]}
        return cams if cams[channel(0)]["quality"]["samples"] > 20 else {}

    cams = wait_for(looked_20_times, 30, "20 looks at the healthy camera")
    assert len(cams) == 10 and all(not c["detect"] for c in cams.values())
    assert cams[channel(0)]["quality"]["learned"] == ["day"]
    assert (data / "quality" / f"{channel(0)}.npz").exists()  # kept across restarts
