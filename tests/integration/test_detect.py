"""Detection against the real daemon: simulated cameras looping real scenes (vtest.avi from
Debian's opencv-doc), the real model, events with pictures in the index, on a real
Mosquitto and as GB/T 28181 alarms to a registered platform, the footage around each
locked; a quiet scene costs no model run; a detector that crashes is restarted and
recording never notices."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest

from edge.record.index import Index
from edge.sim.server import CameraServer, free_port
from tests.conftest import MEDIA_CACHE, Daemon, street_clips, wait_for, write_config
from tests.integration.broker import Broker, Subscriber
from edge.gb28181.manscdp import ManscdpMessage
from tests.integration.scripted_platform import (
    NODE, PASSWORD, SERVER, ScriptedPlatform, expect, register,
)

STREET = "34020000001320000001"
EMPTY = "34020000001320000002"
WITH_SUB = "34020000001320000003"  # the street again, with a sub stream to detect on


def detect_json(data: Path) -> dict:
    try:
        return json.loads((data / "detect.json").read_text())
    except (OSError, ValueError):
        return {}


def detect_status(data: Path) -> dict[str, dict]:
    return {c["id"]: c for c in detect_json(data).get("cameras", [])}


def detector_pid(config: Path) -> int | None:
    out = subprocess.run(["pgrep", "-f", f"_detect --config {config}"], capture_output=True,
                         text=True)
    return int(out.stdout.split()[0]) if out.stdout.split() else None


def picture(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def foreground(snapshot: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Where the picture differs from the empty street: the people (ground truth that owes
    nothing to the model)."""
    diff = np.abs(snapshot.astype(np.int16) - empty.astype(np.int16)).max(axis=2)
    return diff > 40


@pytest.fixture(scope="module")
def scene(gstreamer: None, tmp_path_factory: pytest.TempPathFactory):
    clips = street_clips()
    tmp = tmp_path_factory.mktemp("detect")
    data = tmp / "data"
    platform = ScriptedPlatform("udp")
    broker = Broker(tmp / "broker").start()
    sub = Subscriber(broker, [f"edge/{NODE}/events"])
    with CameraServer({"/street": clips["street"], "/empty": clips["empty"],
                       "/main": clips["street"], "/sub": clips["street"]}) as server:
        config = write_config(tmp / "edge.toml", data,
                              [(STREET, server.url("/street")), (EMPTY, server.url("/empty")),
                               (WITH_SUB, server.url("/main"))],
                              extra=f"sip_port = {free_port()}\n[web]\nenabled = false\n"
                                    "[detect]\nlock_seconds = 5\n"
                                    f"[[platforms]]\nid = \"{SERVER}\"\nhost = \"127.0.0.1\"\n"
                                    f"port = {platform.port}\npassword = \"{PASSWORD}\"\n"
                                    + broker.config(),
                              camera_extra="detect = true")
        config.write_text(config.read_text().replace(
            f'url = "{server.url("/main")}"\ndetect = true\n',
            f'url = "{server.url("/main")}"\nsub_url = "{server.url("/sub")}"\ndetect = true\n'
            # a line down the middle of the street, drawn upwards: side A is the left
            '[[cameras.tripwires]]\nname = "中线"\nline = [[0.5, 0.95], [0.5, 0.2]]\n'))
        daemon = Daemon(config).start()
        try:
            register(platform)
            yield config, data, daemon, platform, sub
        finally:
            daemon.stop()
            platform.close()
            sub.close()
            broker.close()


def next_alarm(platform: ScriptedPlatform, alarm_type: str, timeout: float) -> ManscdpMessage:
    """The next alarm of ``alarm_type`` (others, e.g. the tripwire's, may come between)."""
    deadline = time.monotonic() + timeout
    while True:
        _, alarm = expect(platform, "MESSAGE", "Alarm", max(0.1, deadline - time.monotonic()))
        if alarm.element.findtext("Info/AlarmType") == alarm_type:
            return alarm


def test_a_detection_is_an_alarm_to_the_upper_platform(scene) -> None:
    *_, platform, _ = scene
    alarm = next_alarm(platform, "2", timeout=60)  # a new walker: in 30 s
    assert alarm.device_id in (STREET, WITH_SUB)  # both show the street; whichever sees first
    assert alarm.fields["AlarmMethod"] == "5"
    assert "行人" in alarm.fields["AlarmDescription"]


def test_a_line_crossed_is_an_event_with_its_picture_and_a_tripwire_alarm(scene) -> None:
    _, data, _, platform, sub = scene
    alarm = next_alarm(platform, "5", timeout=90)  # someone crosses the middle: in 30 s
    assert alarm.device_id == WITH_SUB and "中线" in alarm.fields["AlarmDescription"]
    index = Index(data, readonly=True)
    try:
        crossed = index.events(0, time.time() + 60, [WITH_SUB], ["tripwire"])
    finally:
        index.close()
    assert crossed
    empty = picture(MEDIA_CACHE / "vtest-empty.png")
    for event in crossed:
        assert event.data["rule"] == "中线" and event.data["armed"] is True
        assert event.data["direction"] in ("a_to_b", "b_to_a")
        snapshot = picture(data / event.snapshot_path)
        h, w = snapshot.shape[:2]
        x0, y0, x1, y1 = event.data["box"]
        # its foot at the line, and someone there on the picture of that moment (the
        # street differs from the empty one in the box: ground truth without the model)
        assert abs((x0 + x1) / 2 - 0.5) < 0.1, event.data
        mask = foreground(snapshot, np.asarray(av.VideoFrame.from_ndarray(
            empty, format="rgb24").reformat(width=w, height=h).to_ndarray(format="rgb24")))
        inner = mask[int(y0 * h) + 3:int(y1 * h) - 3, int(x0 * w) + 3:int(x1 * w) - 3]
        assert inner.size and inner.mean() > 0.1, (event.data, inner.mean())
    wait_for(lambda: any(m.get("type") == "tripwire" and m.get("rule") == "中线" for m in (
        json.loads(p) for p in sub.on(f"edge/{NODE}/events"))), 30, "the crossing on MQTT")


def test_people_walking_in_are_person_events_with_pictures_on_the_people(scene) -> None:
    config, data, *_ = scene

    def events() -> list:
        if not (data / "edge.db").exists():
            return []
        index = Index(data, readonly=True)
        try:
            return [e for e in index.events(0, time.time() + 60, [STREET], ["detection"])
                    if e.data["label"] == "person"]
        finally:
            index.close()

    found = wait_for(lambda: len(events()) >= 3 and events(), 90, "three person events")
    empty = picture(MEDIA_CACHE / "vtest-empty.png")
    for event in found:
        snapshot = picture(data / event.snapshot_path)
        h, w = snapshot.shape[:2]
        assert (h, w) == (480, 640)
        x0, y0, x1, y1 = event.data["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 and event.data["score"] >= 0.5
        assert event.data["zones"] == ["全画面"]
        # the box is on a person: much of it differs from the empty street (the red box
        # drawn on the picture is left out; where nobody is, next to none does, and two
        # people half behind the sign in the middle of the street differ in 15 % of theirs)
        empty_small = np.asarray(av.VideoFrame.from_ndarray(empty, format="rgb24").reformat(
            width=w, height=h).to_ndarray(format="rgb24"))
        mask = foreground(snapshot, empty_small)
        inner = mask[int(y0 * h) + 3:int(y1 * h) - 3, int(x0 * w) + 3:int(x1 * w) - 3]
        assert inner.size and inner.mean() > 0.1, (event.data, inner.mean())
        crop = data / event.snapshot_path.replace(".jpg", ".crop.jpg")
        assert picture(crop).shape[0] == pytest.approx((y1 - y0) * h, abs=2)
    # one object is one event: an event spans time and has a path
    assert any(e.data["end"] > e.data["start"] and len(e.data["path"]) >= 2 for e in found)


def test_a_quiet_scene_costs_no_model_run(scene) -> None:
    _, data, *_ = scene
    wait_for(lambda: detect_status(data).get(EMPTY, {}).get("frames", 0) >= 20, 60,
             "20 frames of the empty street looked at")
    quiet = detect_status(data)[EMPTY]
    assert quiet["mode"] == "keyframes" and quiet["inferences"] == 0 and quiet["events"] == 0
    busy = detect_status(data)[STREET]
    assert busy["inferences"] > 0


def newest_segment(data: Path):
    """The street's newest segment, or None before the first."""
    index = Index(data, readonly=True)
    try:
        return (index.segments(STREET) or [None])[-1]
    finally:
        index.close()


def test_a_crashed_detector_comes_back_and_recording_never_noticed(scene) -> None:
    config, data, daemon, *_ = scene
    pid = wait_for(lambda: detector_pid(config), 30, "the detector process")
    recorder = daemon.recorder_pid()
    before = wait_for(lambda: newest_segment(data), 60, "the street recording")
    os.kill(pid, signal.SIGKILL)
    killed_wall = time.time()
    wait_for(lambda: (p := detector_pid(config)) and p != pid, 30, "a new detector process")
    wait_for(lambda: (d := detect_json(data)) and d["ts"] > killed_wall
             and d["cameras"][0]["frames"] > 0, 20, "the new detector looking again")
    # the recorder never stopped: the same process, recording on past the kill without a
    # gap (the open segment grows, or was cut at its boundary and the next one follows on)
    after = wait_for(lambda: (s := newest_segment(data)) and s.end_ts > killed_wall + 3 and s, 20,
                     "the open segment to grow past the kill")
    assert daemon.recorder_pid() == recorder
    assert not after.complete
    index = Index(data, readonly=True)
    since = [s for s in index.segments(STREET) if s.id >= before.id]
    index.close()
    gaps = [b.start_ts - a.end_ts for a, b in zip(since, since[1:])]
    assert all(gap < 1.0 for gap in gaps), gaps


def test_events_reach_the_broker_and_their_footage_is_locked(scene) -> None:
    _, data, _, _, sub = scene

    def ended() -> list[dict]:
        messages = [json.loads(m) for m in sub.on(f"edge/{NODE}/events")]
        return [m for m in messages if m.get("type") == "detection" and m["state"] == "end"]

    done = wait_for(ended, 90, "a detection's end on the broker")[0]
    # every event written whole: none dropped (the first of each camera once was: opening
    # the outbox inside the event's transaction committed it halfway)
    errors = [line for line in (data / "logs" / "detect.log").read_text().splitlines()
              if "unexpected error" in line]
    assert not errors, errors
    started = [json.loads(m) for m in sub.on(f"edge/{NODE}/events")]
    assert any(m.get("event") == done["event"] and m["state"] == "start" for m in started)
    assert done["channel"] == STREET and done["label"] in ("person", "vehicle")
    assert done["end"] >= done["start"] and done["path"]
    index = Index(data, readonly=True)
    try:
        locks = index.locks(STREET)
    finally:
        index.close()
    assert any(lock.start_ts <= done["start"] - 5 + 0.01 and lock.end_ts >= done["end"] + 5 - 0.01
               and str(done["event"]) in lock.reason for lock in locks)


def test_a_camera_with_a_sub_stream_is_looked_at_often_while_people_near_its_line(
        scene) -> None:
    _, data, *_ = scene

    def snapshot() -> tuple[float, dict]:
        status = detect_json(data)
        cams = {c["id"]: c for c in status.get("cameras", [])}
        return status.get("ts", 0.0), cams.get(WITH_SUB, {})

    first = wait_for(lambda: (s := snapshot())[1].get("frames") and s, 30,
                     "the sub stream looked at")
    # people walk over its middle line all the time: frames are looked at for them (at
    # detect.fps, which test_detect_pure holds by the frames' own times: a rate measured by
    # the wall clock depends on the machine's load)
    wait_for(lambda: snapshot()[1]["near_line"] > first[1]["near_line"] + 10, 60,
             "frames looked at for people nearing the line")
    last = snapshot()
    assert last[1]["mode"] == "sub"
    rate = (last[1]["frames"] - first[1]["frames"]) / (last[0] - first[0])
    assert rate < 10.0, rate  # never more often than the 10-fps sub stream delivers
    wait_for(lambda: snapshot()[1]["events"] > 0, 30, "events from it")
