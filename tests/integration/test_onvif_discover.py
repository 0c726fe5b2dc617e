"""Finding cameras as a technician does, against a real ONVIF camera (IPyCam answering
WS-Discovery on 3702 and the Device, Media and PTZ services): ``edge discover`` over a
unicast probe, and the settings page's dialog — scan, propose, add through the config
checker (audited) — which fetches only what a scan found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from edge.config import load as load_config
from edge.record.index import Index
from edge.web.app import create_app
from tests.integration.test_ptz import (
    CAMERA_PASSWORD, USER, OnvifCamera, csrf_token, signed_in, web_node,
)


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnvifCamera]:
    found = OnvifCamera(tmp_path_factory.mktemp("cam"), USER, CAMERA_PASSWORD, "--discovery")
    yield found
    found.close()


def test_edge_discover_reads_what_the_camera_offers(camera: OnvifCamera, tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "edge", "discover", "--address", "127.0.0.1",
                          "--user", USER, "--password", CAMERA_PASSWORD, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    [dev] = [d for d in report["devices"]
             if d["address"].endswith(f":{camera.port}/onvif/device_service")]
    assert (dev["manufacturer"], dev["model"], dev["serial"]) == ("IPyCam", "VirtualCam-1",
                                                                   "PY-000042")
    assert dev["ptz"] and any(p["rtsp"].startswith("rtsp://") for p in dev["profiles"])
    assert abs(dev["clock_offset_s"]) < 5
    wrong = subprocess.run([sys.executable, "-m", "edge", "discover", "--address", "127.0.0.1",
                            "--user", USER, "--password", "not-it"],
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1 and "用户名或密码错误 wrong user name or password" in wrong.stdout
    bad = subprocess.run([sys.executable, "-m", "edge", "discover", "--address", "127.0.0.1:７"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid port" in bad.stderr


def test_the_settings_dialog_finds_proposes_and_adds(camera: OnvifCamera, tmp_path: Path) -> None:
    cfg, path = web_node(tmp_path, """
[[cameras]]
id = "34020000001320000007"
name = "村委会"
url = "rtsp://10.0.0.6/live"
""", [("admin", "admin", None), ("oper", "operator", None)])
    app = create_app(cfg, path)
    admin, oper = signed_in(app, "admin"), signed_in(app, "oper")

    def post(client, url: str, body: dict):  # type: ignore[no-untyped-def]
        return client.post(url, json=body, headers={"X-CSRF-Token": csrf_token(client)})

    assert post(oper, "/api/discover", {}).status_code == 403  # settings right only
    assert post(admin, "/api/discover/add", {"items": [{"device": 0}]}).status_code == 409
    found = post(admin, "/api/discover", {"address": "127.0.0.1", "user": USER,
                                          "password": CAMERA_PASSWORD}).json
    assert found["ok"], found
    ours = f":{camera.port}/onvif/device_service"
    mine = [p for p in found["pictures"]
            if found["devices"][p["device"]]["address"].endswith(ours)]
    assert mine and mine[0]["id"] == "34020000001320000008"  # the next free in the numbering
    pick = mine[0]  # one video source: the main profile and the sub beside it
    assert (pick["source"], pick["main"], pick["sub"]) == ("VS_1", "H264 1920×1080 30 fps",
                                                           "H264 640×360")
    assert pick["configured"] is False and pick["snapshot"] is True
    # a thumbnail names a found device and picture, never a URL
    assert admin.get(f"/api/discover/99/{pick['source']}/snapshot.jpg").status_code == 404
    assert post(admin, "/api/discover/add", {"items": [{"device": 99, "source": "x"}]}
                ).status_code == 400
    added = post(admin, "/api/discover/add", {"items": [
        {"device": pick["device"], "source": pick["source"], "id": pick["id"],
         "name": "村口球机"}]}).json
    assert added == {"ok": True, "added": ["34020000001320000008"]}, added
    cam = load_config(path).camera("34020000001320000008")
    assert cam is not None and cam.name == "村口球机" and cam.vendor == "IPyCam"
    assert cam.url.startswith(f"rtsp://{USER}:{CAMERA_PASSWORD}@")
    assert cam.onvif.endswith(f":{camera.port}/onvif/device_service")
    assert cam.sub_url == f"rtsp://{USER}:{CAMERA_PASSWORD}@127.0.0.1:554/sub"
    # a proposal taken twice is refused by the checker, and nothing is written
    before = path.read_text(encoding="utf-8")
    again = post(admin, "/api/discover/add", {"items": [
        {"device": pick["device"], "source": pick["source"], "id": pick["id"], "name": "x"}]})
    assert again.status_code == 400 and path.read_text(encoding="utf-8") == before
    index = Index(cfg.data_dir, readonly=True)
    actions = [(actor, action) for _, actor, action, _ in index.audit_log()]
    index.close()
    assert ("web:admin", "cameras_added") in actions and ("web:admin", "cameras_refused") in actions


def test_a_multicast_probe_finds_the_camera_on_the_lan(tmp_path: Path) -> None:
    """What ``edge discover`` does without --address: a Probe to 239.255.255.250:3702 from
    every LAN interface; the camera answers from, and points at, its LAN address."""
    from edge.onvif import discovery

    lan = discovery.lan_addresses()
    if not lan:
        pytest.skip("this host has no non-loopback IPv4 interface to send multicast from")
    on_lan = OnvifCamera(tmp_path, USER, CAMERA_PASSWORD, "--discovery", "--host", lan[0])
    try:
        found = discovery.probe(None, 3.0)
    finally:
        on_lan.close()
    mine = [f for f in found if f.address == f"http://{lan[0]}:{on_lan.port}/onvif/device_service"]
    assert [f.sender for f in mine] == [lan[0]], found
