"""The room's voice: announcements uploaded (transcoded on the box), played now and
scheduled, push-to-talk from the web UI — through the daemon's voice service on its real
local socket, out of a real ALSA PCM (tests/integration/conftest.py ``alsa_file``)."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import wave
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np
import pytest

from edge.record.index import Index
from edge.voice.client import ask
from edge.voice.service import VoiceService
from edge.sim.server import free_port
from edge.voice.library import Library
from edge.voice.speaker import PRIORITY_CASCADE, Speakers
from edge.web.accounts import Accounts
from edge.web.app import create_app
from tests.conftest import Daemon, wait_for, write_config
from tests.integration.conftest import peak_hz, played
from tests.integration.test_ptz import csrf_token, signed_in, web_node
from tests.integration.test_web_browser import ARGS, CHROMIUM, _answers

SPEAKER = "34020000001370000001"
SECOND = "34020000001370000002"  # no sound card behind it


def mp3(seconds: float, hz: float) -> bytes:
    """A real MP3 (libmp3lame, 44.1 kHz stereo) of a tone: what a technician uploads."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=44100, layout="stereo")
        t = np.arange(int(44100 * seconds)) / 44100
        tone = (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)
        both = np.repeat(tone[None, :], 2, axis=0).T.reshape(1, -1).copy()
        for i in range(0, tone.size, 1152):
            frame = av.AudioFrame.from_ndarray(both[:, 2 * i:2 * (i + 1152)], format="s16",
                                               layout="stereo")
            frame.rate = 44100
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def pcm(seconds: float, hz: float) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (np.sin(2 * np.pi * hz * t) * 10000).astype("<i2").tobytes()


class Room:
    def __init__(self, tmp_path: Path) -> None:
        self.cfg, self.path = web_node(tmp_path, f"""
[voice]
record = true

[[speakers]]
id = "{SPEAKER}"
name = "村委会大喇叭"
device = "edgetest"

[[speakers]]
id = "{SECOND}"
name = "村口喇叭"
device = "nosuchcard"
""", [("oper", "operator", None), ("guard", "viewer", None), ("gate", "operator", [SECOND])])
        self.speakers = Speakers(self.cfg.speakers, self.cfg.data_dir)  # [voice] record
        self.stop = threading.Event()
        self.service = VoiceService(self.speakers, self.cfg.data_dir, "Asia/Shanghai", self.stop)
        self.service.start()
        self.app = create_app(self.cfg, self.path)
        self.oper = signed_in(self.app, "oper")

    def post(self, url: str, **kwargs: Any) -> Any:
        if "json" in kwargs or "data" in kwargs and isinstance(kwargs["data"], bytes):
            kwargs.setdefault("headers", {})["X-CSRF-Token"] = csrf_token(self.oper)
        else:
            kwargs.setdefault("data", {})["csrf"] = csrf_token(self.oper)
        return self.oper.post(url, **kwargs)

    def idle(self, speaker: str = SPEAKER, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.speakers.get(speaker).idle:
            assert time.monotonic() < deadline, "the speaker stayed busy"
            time.sleep(0.05)

    def audit(self) -> list[tuple[str, str, dict[str, Any]]]:
        index = Index(self.cfg.data_dir, readonly=True)
        try:
            return [(actor, action, detail) for _, actor, action, detail in index.audit_log()]
        finally:
            index.close()

    def audited(self, action: str, timeout: float = 30.0) -> tuple[str, dict[str, Any]]:
        """The first audit entry of ``action`` (an end is written once it has ended)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [(actor, detail) for actor, act, detail in self.audit() if act == action]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no {action} in the audit log"
            time.sleep(0.05)


@pytest.fixture
def room(tmp_path: Path, alsa_file: Path) -> Iterator[Room]:
    r = Room(tmp_path)
    yield r
    r.stop.set()
    r.service.join(5)


def test_an_uploaded_announcement_plays_now_on_the_chosen_speakers(room: Room,
                                                                   alsa_file: Path) -> None:
    page = room.post("/broadcast/upload", data={"name": "防汛通知",
                                                "file": (io.BytesIO(mp3(1.0, 440)), "flood.mp3")},
                     content_type="multipart/form-data")
    assert page.status_code == 200 and "已上传并转码" in page.text
    [item] = room.service.library.announcements()
    assert item.name == "防汛通知" and 0.9 <= item.seconds <= 1.2
    # a file that is not audio: a clear message, nothing kept
    page = room.post("/broadcast/upload", data={"file": (io.BytesIO(b"MZ" * 500), "x.mp3")},
                     content_type="multipart/form-data")
    assert "不是可用的音频文件" in page.text and len(room.service.library.announcements()) == 1
    # a viewer may not broadcast
    guard = signed_in(room.app, "guard")
    assert guard.get("/broadcast").status_code == 403
    assert "广播" not in guard.get("/").text.split("<main")[0]

    page = room.post(f"/broadcast/{item.id}/play", data={"speaker": [SPEAKER, SECOND],
                                                         "repeat": "2"})
    assert page.status_code == 200 and "开始播放" in page.text
    room.idle()
    room.idle(SECOND)
    heard = played(alsa_file)
    assert heard.size == 2 * round(item.seconds * 8000)  # twice, every sample
    assert abs(peak_hz(heard) - 440) < 10
    actor, start = room.audited("announcement")
    assert actor == "web:oper" and start["speakers"] == [SPEAKER, SECOND]
    assert start["repeat"] == 2
    _, end = room.audited("announcement_end")
    assert "nosuchcard" in end["reasons"][SECOND]  # the dead card says why; the other played


def test_push_to_talk_reaches_the_speaker_and_beats_an_announcement(room: Room,
                                                                    alsa_file: Path) -> None:
    item = room.service.library.add("长录音", mp3(8.0, 300), "oper")
    assert ask(room.cfg.data_dir, {"action": "announce", "announcement": item.id,
                                   "speakers": [SPEAKER], "repeat": 3, "user": "x"})["ok"]
    talk = room.post("/api/broadcast/talk", json={"speakers": [SPEAKER]})
    assert talk.status_code == 200 and talk.json["speakers"] == [SPEAKER], talk.json
    token = talk.json["token"]
    voice = pcm(1.0, 1000)
    for i in range(0, len(voice), 3200):  # what the page sends every 200 ms
        sent = room.post(f"/api/broadcast/talk/{token}", data=voice[i:i + 3200],
                         content_type="application/octet-stream")
        assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + 30
    while room.speakers.get(SPEAKER).samples < 8000:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert room.post(f"/api/broadcast/talk/{token}/end", json={}).status_code == 200
    room.idle()
    heard = played(alsa_file)  # the card stays open across the takeover: no gap
    before, talked = heard[:-8000], heard[-8000:]
    assert abs(peak_hz(talked) - 1000) < 10  # the talk, whole, after
    assert before.size < 3 * 8 * 8000  # of the announcement, what played before (if any)
    assert before.size == 0 or abs(peak_hz(before) - 300) < 10
    assert "taken over" in room.audited("announcement_end")[1]["reasons"][SPEAKER]
    actor, ended = room.audited("talk_end")
    assert actor == "web:oper"
    # what was said is kept as evidence ([voice] record): the talk alone, whole
    with wave.open(str(room.cfg.data_dir / ended["recordings"][SPEAKER])) as kept:
        said = np.frombuffer(kept.readframes(kept.getnframes()), "<i2")
    assert said.size == 8000 and abs(peak_hz(said) - 1000) < 10
    assert len(list((room.cfg.data_dir / "voice" / "evidence").rglob("*.wav"))) == 1
    _evidence_is_listed_played_and_audited(room, ended["recordings"][SPEAKER])
    # the cascade's broadcast holds the speaker: the room is refused, and says why
    claim = room.speakers.get(SPEAKER).claim("gb28181:34020000002000000001", PRIORITY_CASCADE)
    refused = room.post("/api/broadcast/talk", json={"speakers": [SPEAKER]})
    assert refused.status_code == 409 and "gb28181" in refused.json["error"]
    room.speakers.get(SPEAKER).release(claim, "done")
    assert room.post("/api/broadcast/talk", json={"speakers": ["x"]}).status_code == 400
    bad = room.post(f"/api/broadcast/talk/{token}", data=b"\x00" * 3,
                    content_type="application/octet-stream")
    assert bad.status_code in (400, 404)


def _evidence_is_listed_played_and_audited(room: Room, rel: str) -> None:
    """The kept talk is on the broadcast page (in the history and the evidence list),
    plays from there to those who may use its speaker, and each listening is audited."""
    _, _, day, name = rel.split("/")
    url = f"/broadcast/evidence/{day}/{name}"
    page = room.oper.get("/broadcast").text
    evidence = page[page.index('id="evidence"'):]
    assert f'<audio controls preload="none" src="{url}">' in evidence
    assert "村委会大喇叭" in evidence and "1 s" in evidence and "web:oper" in evidence
    assert f'href="{url}"' in page[:page.index('id="evidence"')]  # the history's talk_end
    with room.oper.get(url) as got:
        assert got.status_code == 200 and got.mimetype == "audio/wav"
        assert got.data == (room.cfg.data_dir / rel).read_bytes()
    with room.oper.get(url, headers={"Range": "bytes=1000-"}) as seek:
        assert seek.status_code == 206, seek.status_code
        assert seek.data == (room.cfg.data_dir / rel).read_bytes()[1000:]
    listened = [d for _, act, d in room.audit() if act == "voice_evidence"]
    assert listened == [{"file": rel, "speaker": SPEAKER, "ip": "127.0.0.1"}]  # the seek: not again
    # another operator's speakers only: neither listed nor played; a viewer: no broadcast right
    gate = signed_in(room.app, "gate")
    assert url not in gate.get("/broadcast").text and gate.get(url).status_code == 404
    assert signed_in(room.app, "guard").get(url).status_code == 403
    for bad in (f"/broadcast/evidence/{day}/..%2F..%2Fedge.toml", f"/broadcast/evidence/x/{name}",
                f"/broadcast/evidence/{day}/000000-{SPEAKER}-x.wav"):
        assert room.oper.get(bad).status_code == 404, bad


def test_schedules_are_checked_listed_and_removed(room: Room) -> None:
    item = room.service.library.add("晚间提醒", mp3(0.5, 440), "oper")
    page = room.post("/broadcast/schedule", data={"announcement": item.id, "kind": "daily",
                                                  "at": "25:00", "repeat": "1",
                                                  "speaker": [SPEAKER]})
    assert "时间格式应为" in page.text and not room.service.library.schedules()
    page = room.post("/broadcast/schedule", data={"announcement": item.id, "kind": "weekdays",
                                                  "at": "20:00", "repeat": "2",
                                                  "speaker": [SPEAKER]})
    assert "已添加定时播放" in page.text
    [schedule] = room.service.library.schedules()
    assert (schedule.kind, schedule.at, schedule.speakers) == ("weekdays", "20:00", (SPEAKER,))
    assert room.post(f"/broadcast/{schedule.id}/unschedule").status_code == 302
    assert not room.service.library.schedules()
    assert room.post("/broadcast/../etc/delete").status_code == 404
    # an operator allowed only the second speaker neither sees nor speaks through the first
    gate = signed_in(room.app, "gate")
    page = gate.get("/broadcast").text
    assert SECOND in page and SPEAKER not in page
    talk = gate.post("/api/broadcast/talk", json={"speakers": [SPEAKER]},
                     headers={"X-CSRF-Token": csrf_token(gate)})
    assert talk.status_code == 400
    assert [s["id"] for s in gate.get("/api/broadcast/status").json["speakers"]] == [SECOND]


def test_a_live_tile_talks_through_the_speaker_beside_its_camera(tmp_path: Path) -> None:
    """The live page's push-to-talk: only on a camera with a speaker beside it that the
    user has the broadcast right on (the camera's own audio output first)."""
    gate, street = "34020000001320000001", "34020000001320000002"
    horn, own = SPEAKER, SECOND
    cfg, path = web_node(tmp_path, f"""
[[cameras]]
id = "{gate}"
name = "村口"
url = "rtsp://127.0.0.1:1/gate"

[[cameras]]
id = "{street}"
name = "主街"
url = "rtsp://127.0.0.1:1/street"

[[speakers]]
id = "{horn}"
name = "村口喇叭"
device = "edgetest"
camera = "{gate}"

[[speakers]]
id = "{own}"
name = "村口摄像机喇叭"
camera = "{gate}"
backchannel = true
""", [("oper", "operator", None), ("guard", "viewer", None),
      ("horn", "operator", [gate, street, horn])])
    app = create_app(cfg, path)

    def buttons(user: str) -> list[str]:
        page = signed_in(app, user).get("/live?layout=4").text
        return re.findall(r'class="tile-talk" data-speaker="(\d+)"', page)

    assert buttons("oper") == [own]  # the camera's own loudspeaker, on the gate's tile only
    assert buttons("guard") == []  # a viewer has no broadcast right
    assert buttons("horn") == [horn]  # not allowed the camera's own: the horn beside it


@pytest.mark.parametrize("where", ["broadcast", "live"])
def test_push_to_talk_in_a_real_browser_with_a_microphone(tmp_path: Path, alsa_file: Path,
                                                          where: str) -> None:
    """Chromium's fake microphone plays a WAV (a 600 Hz tone): held, the button — on the
    广播 page, or on the live tile of the camera the loudspeaker stands beside — sends it
    to the daemon, and the speaker's ALSA PCM plays that tone."""
    from playwright.sync_api import sync_playwright

    wav = tmp_path / "mic.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        t = np.arange(48000 * 2) / 48000
        out.writeframes((np.sin(2 * np.pi * 600 * t) * 12000).astype("<i2").tobytes())
    port = free_port()
    data = tmp_path / "data"
    camera = "34020000001320000001"  # no camera answers there: the tile's picture is not needed
    config = write_config(tmp_path / "edge.toml", data,
                          [(camera, f"rtsp://127.0.0.1:{free_port()}/x")], extra=(
        f'\n[web]\nlisten = "127.0.0.1"\nport = {port}\n\n[[speakers]]\nid = "{SPEAKER}"\n'
        f'name = "村委会大喇叭"\ndevice = "edgetest"\ncamera = "{camera}"\n'))
    index = Index(data)
    Accounts.create_schema(index.db)
    Accounts(index.db).add("oper", "village2026", "operator")
    index.close()
    alsa_file.unlink(missing_ok=True)  # what an earlier test played
    daemon = Daemon(config).start()
    base = f"http://127.0.0.1:{port}"
    args = [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"]
    try:
        wait_for(lambda: _answers(base + "/healthz"), 30, "the web UI")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
            page = browser.new_context(viewport={"width": 360, "height": 800}).new_page()
            page.goto(base + "/login")
            page.fill("input[name=name]", "oper")
            page.fill("input[name=password]", "village2026")
            page.click("button.primary")
            if where == "broadcast":
                page.goto(base + "/broadcast")
                button, state = page.locator("#talk"), page.locator("#talk-state")
            else:
                page.goto(base + "/live?layout=1")
                button = page.locator(f'.cell[data-channel="{camera}"] .tile-talk')
                state = page.locator(f'.cell[data-channel="{camera}"] .talk-msg')
                assert button.get_attribute("data-speaker") == SPEAKER
            wait_for(lambda: button.is_enabled(), 10, "the talk button enabled (secure context)")
            button.hover()
            page.mouse.down()
            wait_for(lambda: alsa_file.exists() and alsa_file.stat().st_size > 2 * 8000 * 2,
                     60, "two seconds of talk played")
            assert "正在讲话" in state.inner_text()
            page.mouse.up()
            wait_for(lambda: "on" not in (button.get_attribute("class") or "").split(), 30,
                     "the talk ended")
            browser.close()
        heard = played(alsa_file)
        assert abs(peak_hz(heard) - 600) < 15
        index = Index(data, readonly=True)
        talks = [(actor, detail.get("speakers")) for _, actor, action, detail in index.audit_log()
                 if action == "talk"]
        index.close()
        assert talks == [("web:oper", [SPEAKER])], talks
    finally:
        daemon.stop()


def test_the_centre_plays_an_announcement_over_mqtt_and_hears_it_happened(
        tmp_path: Path, broker: Any, alsa_file: Path) -> None:
    """``cmd/broadcast`` plays an announcement already on the box; the speaker taken and
    given back arrive on the events topic, so the county sees which villages heard it."""
    from tests.integration.broker import Subscriber

    data = tmp_path / "data"
    config = write_config(tmp_path / "edge.toml", data, [], extra=(
        broker.config(allowed_commands=["broadcast"])
        + f'\n[[speakers]]\nid = "{SPEAKER}"\nname = "村委会大喇叭"\ndevice = "edgetest"\n'))
    item = Library(data).add("防汛通知", mp3(1.0, 440), "admin")
    base = "edge/34020000001180000001"
    daemon = Daemon(config).start()
    sub = Subscriber(broker, [f"{base}/#"], client_id="voice-sub")
    try:
        wait_for(lambda: sub.on(f"{base}/status")[-1:] == [b"online"], 30, "online")
        sub.client.publish(f"{base}/cmd/broadcast",
                           json.dumps({"announcement": "nope"}).encode(), qos=1)
        wait_for(lambda: sub.on(f"{base}/cmd/broadcast/reply"), 20, "the refusal")
        refusal = json.loads(sub.on(f"{base}/cmd/broadcast/reply")[0])
        assert not refusal["ok"] and "no announcement" in refusal["error"]
        sub.client.publish(f"{base}/cmd/broadcast",
                           json.dumps({"announcement": item.id, "repeat": 2}).encode(), qos=1)
        wait_for(lambda: len(sub.on(f"{base}/cmd/broadcast/reply")) == 2, 20, "the reply")
        reply = json.loads(sub.on(f"{base}/cmd/broadcast/reply")[1])
        assert reply["ok"] and reply["speakers"] == [SPEAKER], reply

        def events() -> list[dict[str, Any]]:
            return [json.loads(p) for p in sub.on(f"{base}/events")]

        wait_for(lambda: any(e["type"] == "broadcast_ended" for e in events()), 60,
                 "the speaker given back")
        kinds = [(e["type"], e["channel"], e["source"]) for e in events()
                 if e["type"].startswith("broadcast")]
        assert kinds == [("broadcast_started", SPEAKER, "mqtt"),
                         ("broadcast_ended", SPEAKER, "mqtt")], kinds
        heard = played(alsa_file)
        assert heard.size == 2 * round(item.seconds * 8000) and abs(peak_hz(heard) - 440) < 10
    finally:
        sub.close()
        daemon.stop()
