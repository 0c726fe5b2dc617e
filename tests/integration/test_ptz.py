"""PTZ end to end: a scripted GB/T 28181 platform steers a dome through the SIP runner, the
steering and ONVIF, and a real ONVIF camera (IPyCam, tests/integration/onvif_camera.py)
says which SOAP calls it received. The catalog places the cameras and tells the dome from
the fixed gun."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from edge.config import load as load_config
from edge.config import parse as parse_config
from edge.gb28181 import place
from edge.gb28181.manscdp import ManscdpMessage, render_group
from edge.gb28181.ptzcmd import encode
from edge.gb28181.runner import SipRunner
from edge.ptz.ops import Move, named
from edge.ptz.service import PtzService
from edge.ptz.steering import Steering, targets
from edge.record.index import Index
from edge.sim.server import free_port
from edge.web.accounts import Accounts
from edge.web.app import create_app
from tests.conftest import wait_for
from tests.integration.scripted_platform import (
    NODE, PASSWORD, SERVER, ScriptedPlatform, query, register,
)

DOME = "34020000001320000001"
GUN = "34020000001320000002"
USER, CAMERA_PASSWORD = "admin", "Dome-pw-1"


class OnvifCamera:
    """The ONVIF camera process and what it was asked, in order."""

    def __init__(self, workdir: Path, user: str = USER, password: str = CAMERA_PASSWORD,
                 *extra: str) -> None:
        self.port = free_port()
        self.calls: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.onvif_camera", "--port", str(self.port),
             "--rtsp-port", "554", "--user", user, "--password", password,
             "--workdir", str(workdir), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2])
        assert self.proc.stdout is not None
        assert "ready" in self.proc.stdout.readline()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.calls.append(json.loads(line))

    def actions(self) -> list[str]:
        return [c["action"] for c in list(self.calls)]

    def wait(self, action: str, after: int = 0, timeout: float = 30) -> dict[str, Any]:
        """The first call of ``action`` among the calls from index ``after`` on."""
        def seen() -> dict[str, Any] | None:
            return next((c for c in list(self.calls)[after:] if c["action"] == action), None)
        return wait_for(seen, timeout, f"the camera to receive {action}")

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def dome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnvifCamera]:
    camera = OnvifCamera(tmp_path_factory.mktemp("dome"))
    yield camera
    camera.close()


class Node:
    """The SIP runner of a node with a dome (ONVIF) and a fixed gun (no ONVIF)."""

    def __init__(self, data_dir: Path, dome: OnvifCamera) -> None:
        self.platform = ScriptedPlatform("udp")
        self.cfg = parse_config({
            "node": {"id": NODE, "data_dir": str(data_dir), "sip_port": free_port()},
            "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": self.platform.port,
                           "password": PASSWORD, "keepalive_interval": 5}],
            "cameras": [
                {"id": DOME, "name": "村口球机", "onvif": dome.address,
                 "url": f"rtsp://{USER}:{CAMERA_PASSWORD}@127.0.0.1:554/main",
                 "longitude": 117.283042, "latitude": 31.861191, "direction": 90.0,
                 "room_type": 1, "use_type": 1},
                {"id": GUN, "name": "村委会", "url": "rtsp://127.0.0.1:554/gun"}],
        })
        Index(data_dir).close()
        self.steering = Steering(targets(self.cfg), state_dir=data_dir / "ptz")
        self.steering.survey([DOME])
        wait_for(lambda: self.steering.has_ptz(DOME) is not None, 30, "the dome surveyed")
        self.stop_event = threading.Event()
        self.runner = SipRunner(self.cfg, self.stop_event, lambda: [
            place.channel(c, True, True, self.steering.has_ptz(c.id),
                          c.keep_days(self.cfg.retention)) for c in self.cfg.cameras],
            steering=self.steering)
        self.runner.start()
        register(self.platform, username=NODE)
        self.sn = 100

    def ask(self, cmd: str, target: str, fields: list[tuple[str, str]] = (),
            root: str = "Query", inner: str = "") -> ManscdpMessage:
        self.sn += 1
        return self.platform.ask(query("udp", self.platform.port, cmd, target, self.sn, fields,
                                       root, inner))

    def ptz(self, target: str, command: str) -> str:
        return self.ask("DeviceControl", target, [("PTZCmd", command)], "Control").fields["Result"]

    def close(self) -> None:
        self.stop_event.set()
        self.runner.join(15)
        self.steering.close()
        self.platform.close()


@pytest.fixture
def node(tmp_path: Path, dome: OnvifCamera) -> Iterator[Node]:
    n = Node(tmp_path, dome)
    yield n
    n.close()


def test_the_catalog_places_the_cameras_and_tells_the_dome_from_the_gun(node: Node) -> None:
    node.sn += 1
    replies = node.platform.ask_list(query("udp", node.platform.port, "Catalog", NODE, node.sn))
    items = {i.findtext("DeviceID"): i for r in replies for i in r.element.iter("Item")}
    dome, gun = items[DOME], items[GUN]
    assert (dome.findtext("Longitude"), dome.findtext("Latitude")) == ("117.283042", "31.861191")
    assert dome.findtext("Info/PTZType") == "1"  # ONVIF has a PTZ service: a dome
    assert (dome.findtext("Info/RoomType"), dome.findtext("Info/UseType")) == ("1", "1")
    assert gun.find("Longitude") is None and gun.find("Info/PTZType") is None  # not invented
    # the 2022 items the node itself knows: streams, download speeds, no SVC, days kept
    assert [(e.tag, e.text) for e in gun.find("Info")] == [
        ("StreamNumberList", "0"), ("DownloadSpeed", "1/2/4"), ("SVCSpaceSupportMode", "0"),
        ("SVCTimeSupportMode", "0"), ("RecordSaveDays", "60")]


def test_a_platform_pans_the_dome_and_its_stop_reaches_the_camera(
        node: Node, dome: OnvifCamera) -> None:
    before = len(dome.calls)
    assert node.ptz(DOME, encode(0x01, 0x80)) == "OK"  # pan right, speed 0x80
    move = dome.wait("ContinuousMove", before)
    assert 'x="0.50' in move["body"] and 'y="0' in move["body"]  # 0x80/255, no tilt
    assert node.ptz(DOME, encode(0x00)) == "OK"  # the operator lets go
    stop = dome.wait("Stop", before)
    assert stop["t"] >= move["t"]
    index = Index(node.cfg.data_dir, readonly=True)
    entries = index.audit_log(action="ptz")
    index.close()
    assert [(actor, detail["channel"]) for _, actor, _, detail in entries] == [
        (f"gb28181:{SERVER}", DOME)] * 2  # 统一日志: as the platform's
    assert [detail["op"] for *_, detail in entries] == ["move pan=+0.50 tilt=+0.00 zoom=+0.00",
                                                       "stop"]


def test_presets_set_called_and_listed_by_number(node: Node, dome: OnvifCamera) -> None:
    before = len(dome.calls)
    assert node.ptz(DOME, encode(0x81, 0, 7)) == "OK"  # set preset 7
    assert "PresetName>7</" in dome.wait("SetPreset", before)["body"]
    listed = node.ask("PresetQuery", DOME)
    presets = {i.findtext("PresetID"): i.findtext("PresetName")
               for i in listed.element.iter("Item")}
    assert presets.get("7") == "7", presets
    after = len(dome.calls)
    assert node.ptz(DOME, encode(0x82, 0, 7)) == "OK"  # call preset 7
    dome.wait("GotoPreset", after)


def test_an_idle_dome_returns_home_when_the_platform_asks_for_it(
        node: Node, dome: OnvifCamera) -> None:
    node.ptz(DOME, encode(0x81, 0, 3))  # preset 3 is home
    inner = render_group("HomePosition", [("Enabled", "1"), ("ResetTime", "2"),
                                          ("PresetIndex", "3")])
    assert node.ask("DeviceControl", DOME, [], "Control", inner).fields["Result"] == "OK"
    before = len(dome.calls)
    node.ptz(DOME, encode(0x08, 0, 0x40))  # tilt up, then let go
    node.ptz(DOME, encode(0x00))
    dome.wait("Stop", before)
    after = len(dome.calls)
    home = dome.wait("GotoPreset", after, timeout=60)  # two idle seconds later, by itself
    assert home["t"] > dome.calls[after - 1]["t"]


def test_a_platforms_drag_zoom_reaches_the_dome_as_a_relative_move(
        node: Node, dome: OnvifCamera) -> None:
    before = len(dome.calls)
    inner = render_group("DragZoomIn", [("Length", "1920"), ("Width", "1080"),
                                        ("MidPointX", "1440"), ("MidPointY", "270"),
                                        ("LengthX", "480"), ("LengthY", "270")])
    assert node.ask("DeviceControl", DOME, [], "Control", inner).fields["Result"] == "OK"
    move = dome.wait("RelativeMove", before)
    assert 'x="0.0825"' in move["body"] and 'y="0.0975"' in move["body"], move["body"]


def test_a_platforms_tour_is_kept_across_a_restart(tmp_path: Path, dome: OnvifCamera) -> None:
    """A tour set up by the platform (cruise points, dwell) runs on the box, and is still
    there after the daemon restarts, as on an NVR."""
    first = Node(tmp_path, dome)
    try:
        for number in (4, 5):
            assert first.ptz(DOME, encode(0x81, 0, number)) == "OK"  # presets 4, 5
            assert first.ptz(DOME, encode(0x84, 3, number)) == "OK"  # tour 3: add them
        assert first.ptz(DOME, encode(0x87, 3, 2)) == "OK"  # dwell 2 s
        wait_for(lambda: (tmp_path / "ptz" / f"{DOME}.json").exists(), 30, "the tour kept")
    finally:
        first.close()
    again = Node(tmp_path, dome)
    try:
        before = len(dome.calls)
        assert again.ptz(DOME, encode(0x88, 3)) == "OK"  # start tour 3
        goes = dome.wait("GotoPreset", before)
        dome.wait("GotoPreset", dome.calls.index(goes) + 1)  # the tour moves on by itself
        assert again.ptz(DOME, encode(0x00)) == "OK"  # any command ends it
    finally:
        again.close()


def test_ptz_for_the_fixed_gun_or_the_node_is_an_error_with_the_reason(node: Node) -> None:
    assert node.ptz(GUN, encode(0x01, 0x80)) == "ERROR"
    assert node.ptz(NODE, encode(0x01, 0x80)) == "ERROR"
    assert node.ptz(DOME, encode(0x03, 0x80)) == "ERROR"  # left and right at once
    fixed = node.ask("PresetQuery", GUN)
    assert fixed.element.find("PresetList").get("Num") == "0"


def test_a_move_whose_stop_is_lost_is_stopped_by_the_box(dome: OnvifCamera) -> None:
    """The web pad's dead-man: a move not renewed within 1 s is stopped."""
    cfg = parse_config({"node": {"id": NODE}, "cameras": [
        {"id": DOME, "name": "d", "url": "rtsp://127.0.0.1/x", "onvif": dome.address,
         "onvif_user": USER, "onvif_password": CAMERA_PASSWORD}]})
    steering = Steering(targets(cfg))
    before = len(dome.calls)
    steering.submit(DOME, named("zoom-in", 8), "web:guard", hold_s=1.0)
    move = dome.wait("ContinuousMove", before)
    stop = dome.wait("Stop", before)  # nobody sent it
    assert stop["t"] > move["t"]
    steering.submit(DOME, Move(), "web:guard")
    steering.close(wait_s=10)


def test_a_camera_with_wrong_credentials_is_said_clearly(tmp_path: Path,
                                                         dome: OnvifCamera) -> None:
    cfg = parse_config({"node": {"id": NODE}, "cameras": [
        {"id": DOME, "name": "d", "url": "rtsp://127.0.0.1/x", "onvif": dome.address,
         "onvif_user": USER, "onvif_password": "wrong"}]})
    errors: list[str] = []
    steering = Steering(targets(cfg), lambda _c, _a, _w, error: errors.append(error or ""))
    steering.submit(DOME, named("left"), "cli")
    steering.close(wait_s=20)
    assert errors and "用户名或密码错误 wrong user name or password" in errors[0]


def test_the_live_pages_pad_steers_through_the_daemon_and_is_audited(
        tmp_path: Path, dome: OnvifCamera) -> None:
    """The web UI's process asks the daemon's PTZ service (edge/ptz/service.py) over its
    local socket: a press moves the dome, a lost release is stopped by the box, presets
    are saved and listed, only the ptz right on that camera may, and presses (not their
    renewals) are audited as the user's."""
    cfg, path = web_node(tmp_path, f"""
[[cameras]]
id = "{DOME}"
name = "村口球机"
url = "rtsp://{USER}:{CAMERA_PASSWORD}@127.0.0.1:554/main"
onvif = "{dome.address}"

[[cameras]]
id = "{GUN}"
name = "村委会"
url = "rtsp://127.0.0.1:554/gun"
""", [("oper", "operator", None), ("guard", "viewer", None), ("gate", "operator", [GUN])])
    stop = threading.Event()
    steering = Steering(targets(cfg))
    service = PtzService(steering, cfg.data_dir, stop)
    service.start()
    app = create_app(cfg, path)
    try:
        oper, guard, gate = (signed_in(app, name) for name in ("oper", "guard", "gate"))
        assert 'class="ptz-toggle"' in oper.get(f"/live?layout=1&cams={DOME}").text
        assert 'class="ptz-toggle"' not in oper.get(f"/live?layout=1&cams={GUN}").text
        assert 'class="ptz-toggle"' not in guard.get(f"/live?layout=1&cams={DOME}").text

        before = len(dome.calls)
        assert _press(oper, DOME, {"action": "left", "speed": 8}).json["ok"] is True
        move = dome.wait("ContinuousMove", before)
        assert 'x="-1' in move["body"]
        for _ in range(3):  # held: renewed, not audited
            assert _press(oper, DOME, {"action": "left", "speed": 8, "renew": True}).json["ok"]
        # the release never comes (a closed tab): the box stops the dome by itself
        assert dome.wait("Stop", before)["t"] >= move["t"]

        after = len(dome.calls)
        assert _press(oper, DOME, {"action": "preset-set", "number": 9}).json["ok"]
        dome.wait("SetPreset", after)
        listed = oper.get(f"/api/ptz/{DOME}/presets").json
        assert [9, "9"] in listed["presets"], listed
        assert listed["imaging"] is False  # IPyCam has no imaging service: no focus on the pad

        assert _press(guard, DOME, {"action": "left"}).status_code == 403  # no ptz right
        assert _press(gate, DOME, {"action": "left"}).status_code == 403  # not its camera
        assert _press(oper, DOME, {"action": "sideways"}).status_code == 400
        assert _press(oper, DOME, {"action": "preset-call", "number": 300}).status_code == 400
        gun = _press(oper, GUN, {"action": "left"})  # no ONVIF: the daemon says why
        assert gun.status_code == 409 and "onvif" in gun.json["error"]

        index = Index(cfg.data_dir, readonly=True)
        entries = [(actor, detail["channel"], detail["op"])
                   for _, actor, _, detail in index.audit_log(action="ptz")]
        index.close()
        assert entries == [("web:oper", DOME, "move pan=-1.00 tilt=+0.00 zoom=+0.00"),
                           ("web:oper", DOME, "preset set 9"),
                           ("web:oper", GUN, "move pan=-0.50 tilt=+0.00 zoom=+0.00")], entries
    finally:
        stop.set()
        service.join(5)
        steering.close()


def web_node(tmp_path: Path, cameras: str,
             users: list[tuple[str, str, list[str] | None]]) -> tuple[Any, Path]:
    """The test node's config with ``cameras`` (TOML), and web accounts (name, role,
    cameras) with the password ``village2026``."""
    path = tmp_path / "edge.toml"
    path.write_text(f'[node]\nid = "{NODE}"\ndata_dir = "{tmp_path / "data"}"\n{cameras}',
                    encoding="utf-8")
    cfg = load_config(path)
    index = Index(cfg.data_dir)
    Accounts.create_schema(index.db)
    for name, role, allowed in users:
        Accounts(index.db).add(name, "village2026", role, cameras=allowed)
    index.close()
    return cfg, path


def csrf_token(client: Any) -> str:
    with client.session_transaction() as session:
        return str(session["csrf"])


def signed_in(app: Any, name: str) -> Any:
    client = app.test_client()
    client.get("/login")
    assert client.post("/login", data={"name": name, "password": "village2026",
                                       "csrf": csrf_token(client)}).status_code == 302
    return client


def _press(client: Any, channel: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/ptz/{channel}", json=body,
                       headers={"X-CSRF-Token": csrf_token(client)})


def _ptz_audit(data_dir: Path) -> list[tuple[str, str]]:
    index = Index(data_dir, readonly=True)
    try:
        return [(actor, detail["op"]) for _, actor, _, detail in index.audit_log(action="ptz")]
    finally:
        index.close()
