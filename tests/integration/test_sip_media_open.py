"""The INVITE's 200 OK names our media port, so it must go out only once the recorder has
bound it (a platform in TCP active mode connects the moment it reads the answer). The SIP
runner runs on real sockets; the recorder is played by the test, answering the "open"
command late, with a failure, or never — timings the real recorder cannot be made to show
on demand (test_media_live covers the real one)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from edge.config import parse as parse_config
from edge.gb28181.model import Channel
from edge.gb28181.runner import OPEN_WAIT_S, SipRunner
from edge.record.index import Index
from edge.sim.server import free_port
from tests.integration.scripted_platform import (
    NODE, PASSWORD, SERVER, ScriptedPlatform, final_response, in_dialog, invite, offer, register,
)

CAM = Channel("34020000001320000001", "村口东", True, True)
LATE_S = 0.6


class LateRecorder:
    """Takes media commands; answers each "open" after LATE_S with the scripted event."""

    def __init__(self) -> None:
        self.answer: str | None = "opened"
        self.commands: list[dict[str, Any]] = []
        self.answered_at: list[float] = []
        self.runner: SipRunner | None = None

    def __call__(self, command: dict[str, Any]) -> bool:
        self.commands.append(command)
        if command["op"] == "open" and self.answer is not None:
            threading.Timer(LATE_S, self._answer, (command["id"], self.answer)).start()
        return True

    def _answer(self, sid: str, event: str) -> None:
        self.answered_at.append(time.monotonic())
        assert self.runner is not None
        self.runner.media_event({"id": sid, "event": event, "reason": "port 30000 in use"})


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[ScriptedPlatform, LateRecorder]]:
    platform = ScriptedPlatform("udp")
    cfg = parse_config({
        "node": {"id": NODE, "data_dir": str(tmp_path), "sip_port": free_port()},
        "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": platform.port,
                       "password": PASSWORD, "keepalive_interval": 5}]})
    Index(tmp_path).close()
    recorder = LateRecorder()
    stop = threading.Event()
    runner = SipRunner(cfg, stop, lambda: [CAM], media=recorder)
    recorder.runner = runner
    runner.start()
    register(platform, username=NODE)
    yield platform, recorder
    stop.set()
    runner.join(10)
    platform.close()


def test_the_answer_waits_for_the_port(node: tuple[ScriptedPlatform, LateRecorder]) -> None:
    platform, recorder = node
    platform.send(invite(platform, CAM.id, offer("tcp-connect", 40000), "late-ok"))
    ok, trying = final_response(platform, "late-ok")
    answered = time.monotonic()
    assert ok.status == 200 and trying  # 100 Trying at once, so the platform does not resend
    assert recorder.answered_at and answered >= recorder.answered_at[0]


def test_a_port_that_cannot_open_gets_500_and_no_session(
        node: tuple[ScriptedPlatform, LateRecorder]) -> None:
    platform, recorder = node
    recorder.answer = "ended"
    request = invite(platform, CAM.id, offer("udp", 40000), "late-fail")
    platform.send(request)
    failed, _ = final_response(platform, "late-fail")
    assert failed.status == 500
    platform.send(in_dialog("ACK", request, failed, 1))  # the platform ACKs the error
    time.sleep(0.5)
    assert [c["op"] for c in recorder.commands] == ["open"]  # no "play" for a dead dialog


def test_a_recorder_that_never_answers_gets_the_session_closed(
        node: tuple[ScriptedPlatform, LateRecorder]) -> None:
    platform, recorder = node
    recorder.answer = None
    started = time.monotonic()
    platform.send(invite(platform, CAM.id, offer("udp", 40000), "late-never"))
    failed, _ = final_response(platform, "late-never")
    assert failed.status == 500 and time.monotonic() - started >= OPEN_WAIT_S
    assert [c["op"] for c in recorder.commands] == ["open", "close"]
