"""`edge run` registering to sipp (SIPp 3.6, Debian sip-tester) playing the upper platform:
sipp's own digest check (verifyauth) decides whether our Authorization is right. sipp ties
every message to one call by Call-ID, which fits registration (one dialog); the
multi-dialog MANSCDP flows are tested against tests/integration/scripted_platform.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.sim.server import free_port
from tests.conftest import Daemon, wait_for, write_config
from tests.integration.scripted_platform import SERVER

SCENARIOS = Path(__file__).parent / "sipp"


class Sipp:
    def __init__(self, scenario: str, transport: str, work: Path) -> None:
        if shutil.which("sipp") is None:
            pytest.fail("sipp is missing: apt install sip-tester (CI installs it)")
        self.port = free_port()
        self.messages = work / f"sipp-{scenario}.msg"
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(self.port),
             "-t", "u1" if transport == "udp" else "t1", "-m", "1", "-timeout", "90s",
             "-nostdin", "-trace_msg", "-message_file", str(self.messages),
             "-trace_err", "-error_file", str(work / f"sipp-{scenario}.err")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=work)

    def count(self, text: str) -> int:
        """Occurrences of ``text`` in sipp's message trace (what it sent and received)."""
        return self.messages.read_text(errors="replace").count(text) if self.messages.exists() else 0

    def result(self) -> int:
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        assert not err.strip() or self.proc.returncode == 0, err.decode(errors="replace")
        return self.proc.returncode


def node_config(tmp_path: Path, sipp: Sipp, transport: str) -> Path:
    return write_config(
        tmp_path / "edge.toml", tmp_path / "data", [],
        extra=f"sip_port = {free_port()}\n\n[[platforms]]\nid = \"{SERVER}\"\n"
              f"host = \"127.0.0.1\"\nport = {sipp.port}\ntransport = \"{transport}\"\n"
              "password = \"12345678\"")


def platform_state(tmp_path: Path) -> dict[str, object]:
    try:
        status = json.loads((tmp_path / "data" / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return (status.get("platforms") or [{}])[0]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_digest_registration_refresh_and_unregister_on_sigterm(transport: str,
                                                               tmp_path: Path) -> None:
    sipp = Sipp("upper_register.xml", transport, tmp_path)
    daemon = Daemon(node_config(tmp_path, sipp, transport)).start()
    try:
        # sipp granted 3 s: the node refreshes (challenged again) and is granted 3600 s
        wait_for(lambda: sipp.count("SIP/2.0 200 OK") == 2, 30, "the refreshed registration")
        assert platform_state(tmp_path).get("registered") is not False
        assert daemon.stop() == 0  # SIGTERM: the scenario needs the unregister to pass
    finally:
        daemon.stop()
    assert sipp.result() == 0, (tmp_path / "edge.log").read_text()


def test_wrong_password_is_reported_and_not_retried_hot(tmp_path: Path) -> None:
    sipp = Sipp("upper_wrong_password.xml", "udp", tmp_path)
    daemon = Daemon(node_config(tmp_path, sipp, "udp")).start()
    try:
        wait_for(lambda: platform_state(tmp_path).get("state") == "forbidden", 30,
                 "the platform state to show the refusal")
        assert "wrong user name or password" in str(platform_state(tmp_path)["last_error"])
        assert sipp.result() == 0
        # a retry would come with a new Call-ID, which sipp takes for a new call: count them
        assert sipp.count("REGISTER sip:") == 2, "REGISTER retried within the 8-s pause"
    finally:
        daemon.stop()
    assert "用户名或密码错误" in (tmp_path / "edge.log").read_text()
