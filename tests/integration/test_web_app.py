"""The web UI's rules through Flask's test client, on a real SQLite index and a real
config file: sign-in, roles, per-camera permission, CSRF, lockout, idle timeout, path
traversal, escaping, the first admin from the setup token, and settings that keep the
file's comments and refuse an invalid config."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from edge import config as config_mod
from edge.record.index import Index
from edge.timefmt import local_day
from edge.web.accounts import LOCK_AFTER, Accounts
from edge.web.app import create_app
from tests.conftest import wait_for

CAM1, CAM2 = "34020000001320000001", "34020000001320000002"
PASSWORD = "village2026"
CONFIG = f"""# 测试节点 test node
[node]
id = "34020000001180000001"
name = "测试村"
data_dir = "{{data}}"

[web]
idle_minutes = 5

# 村口 (keep this comment)
[[cameras]]
id = "{CAM1}"
name = "<script>alert(1)</script>村口"
url = "rtsp://admin:cam-secret@10.0.0.5:554/Streaming/Channels/101"
key_area = true

[[cameras]]
id = "{CAM2}"
name = "村委会"
url = "rtsp://10.0.0.6/live"
"""


def make_app(tmp_path: Path, config: str = CONFIG) -> Flask:
    path = tmp_path / "edge.toml"
    path.write_text(config.replace("{data}", str(tmp_path / "data")), encoding="utf-8")
    cfg = config_mod.load(path)
    index = Index(cfg.data_dir)
    Accounts.create_schema(index.db)
    accounts = Accounts(index.db)
    accounts.add("admin", PASSWORD, "admin")
    accounts.add("oper", PASSWORD, "operator")
    accounts.add("guard", PASSWORD, "viewer", cameras=[CAM1])
    index.close()
    application = create_app(cfg, path)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


def csrf(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return str(session.get("csrf", ""))


def login(client: FlaskClient, name: str, password: str = PASSWORD) -> Any:
    client.get("/login")
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": csrf(client)})


def signed_in(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def audit(app: Flask) -> list[tuple[str, str, dict]]:
    index = Index(app.extensions["edge"].cfg.data_dir, readonly=True)
    try:
        return [(actor, action, detail) for _, actor, action, detail in index.audit_log()]
    finally:
        index.close()


def test_every_route_needs_a_session(app: Flask) -> None:
    client = app.test_client()
    values = {"channel": CAM1, "job_id": "abc", "item_id": 1, "event_id": 1, "kind": "events",
              "action": "restart", "code": "en", "filename": "edge.css", "device": 0,
              "source": "VS_1", "item": "0123456789ab", "token": "t",
              "day": "2026-12-06", "name": "080000-34020000001370000001-web_a.wav"}
    open_routes = {"auth.login", "auth.setup", "auth.language", "static", "healthz",
                   "push.worker", "push.manifest"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in open_routes:
            continue
        url = rule.build({k: values[k] for k in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, headers={"X-CSRF-Token": csrf(client)})
            if url.startswith("/api/"):
                assert response.status_code == 401, (method, url)
            else:
                assert response.status_code == 302 and "/login" in response.location, (method, url)
            checked += 1
    assert checked >= 25


def test_roles_decide_what_a_user_may_do(app: Flask) -> None:
    viewer = signed_in(app, "guard")
    assert viewer.get("/").status_code == 200
    for url in ("/export", "/settings", "/users", "/audit", "/audit.csv", "/system"):
        assert viewer.get(url).status_code == 403, url
    token = csrf(viewer)
    assert viewer.post("/export", data={"csrf": token, "channel": CAM1, "from": "2026-11-22 08:00",
                                        "to": "2026-11-22 08:10"}).status_code == 403
    assert viewer.post("/settings", data={"csrf": token}).status_code == 403
    operator = signed_in(app, "oper")
    assert operator.get("/export").status_code == 200
    assert operator.get("/settings").status_code == 403
    assert signed_in(app, "admin").get("/settings").status_code == 200


def test_a_user_sees_only_the_cameras_allowed(app: Flask) -> None:
    viewer = signed_in(app, "guard")
    page = viewer.get("/").get_data(as_text=True)
    assert CAM1 in page and CAM2 not in page
    for url in (f"/api/thumb/{CAM2}.jpg", f"/api/live/{CAM2}", f"/api/timeline/{CAM2}?from=1&to=2",
                f"/api/playback/{CAM2}?start=1796000000", f"/playback?channel={CAM2}"):
        response = viewer.get(url)
        assert response.status_code in (403, 200), url
        if response.status_code == 200:  # the page falls back to an allowed camera
            assert CAM2 not in response.get_data(as_text=True), url
    assert viewer.get(f"/api/timeline/{CAM2}?from=1800000000&to=1800003600").status_code == 403
    assert viewer.get(f"/api/thumb/{CAM2}.jpg").status_code == 403


def test_state_changes_need_the_csrf_token(app: Flask) -> None:
    admin = signed_in(app, "admin")
    for url in ("/logout", "/settings", "/users", "/system/restart", "/events/1/ack"):
        assert admin.post(url, data={"confirm": "1"}).status_code == 400, url
        assert admin.post(url, data={"confirm": "1", "csrf": "forged"}).status_code == 400, url
    assert admin.get("/").status_code == 200  # still signed in: nothing happened


def test_failed_logins_lock_the_account_and_are_audited(app: Flask) -> None:
    client = app.test_client()
    for _ in range(LOCK_AFTER):
        page = login(client, "oper", "wrong-password1").get_data(as_text=True)
    assert "锁定" in page  # the fifth failure locks it
    assert login(client, "oper").status_code == 200  # even the right password, for now
    failed = [d for _, action, d in audit(app) if action == "login_failed"]
    assert [d["reason"] for d in failed] == ["wrong"] * (LOCK_AFTER - 1) + ["locked", "locked"]
    assert login(client, "admin").status_code == 302  # others are not affected


def _age_session(app: Flask, client: FlaskClient, seen_ago: float, created_ago: float) -> None:
    """Move the client's server-side session back in time (the box's clock is not ours)."""
    with client.session_transaction() as session:
        sid = session["sid"]
    index = Index(app.extensions["edge"].cfg.data_dir)
    index.db.execute("UPDATE web_sessions SET seen_ts = ?, created_ts = ? WHERE id = ?",
                     (time.time() - seen_ago, time.time() - created_ago, sid))
    index.close()


def test_the_session_ends_after_idle_minutes(app: Flask) -> None:
    admin = signed_in(app, "admin")
    _age_session(app, admin, 6 * 60, 6 * 60)
    response = admin.get("/")
    assert response.status_code == 302 and "/login" in response.location
    assert "长时间未操作" in admin.get("/login").get_data(as_text=True)


def test_a_busy_session_still_ends_after_session_hours(app: Flask) -> None:
    admin = signed_in(app, "admin")
    _age_session(app, admin, 10, 13 * 3600)  # used a moment ago, signed in 13 h ago
    response = admin.get("/")
    assert response.status_code == 302 and "/login" in response.location
    assert "最长时限" in admin.get("/login").get_data(as_text=True)


def test_signing_out_ends_the_session_on_the_box(app: Flask) -> None:
    """Issue 22, finding 2: a cookie saved before sign-out is worth nothing after it, and
    "sign out everywhere" ends every browser's session, a stolen one's too."""
    admin = signed_in(app, "admin")
    cookie = admin.get_cookie("edge_session")
    assert cookie is not None and admin.get("/").status_code == 200
    admin.post("/logout", data={"csrf": csrf(admin)})
    thief = app.test_client()
    thief.set_cookie("edge_session", cookie.value)
    assert thief.get("/").status_code == 302  # the copy died with the sign-out

    phone, desk = signed_in(app, "admin"), signed_in(app, "admin")
    stolen = app.test_client()
    stolen.set_cookie("edge_session", phone.get_cookie("edge_session").value)
    assert stolen.get("/").status_code == 200
    page = desk.get("/account").get_data(as_text=True)
    assert page.count("<tr><td>") == 2 and "本浏览器" in page
    assert desk.post("/account", data={"csrf": csrf(desk)}).status_code == 302
    assert [c.get("/").status_code for c in (phone, desk, stolen)] == [302, 302, 302]
    assert ("web:admin", "logout_everywhere") in [(a, b) for a, b, _ in audit(app)]


def test_paths_cannot_leave_the_data_dir(app: Flask) -> None:
    admin = signed_in(app, "admin")
    for url in ("/api/thumb/..%2F..%2Fedge.db.jpg", "/api/thumb/../edge.toml",
                "/export/..%2F..%2Fetc%2Fpasswd/download", "/export/../../edge.db/download",
                "/api/export/..%2Fedge"):
        assert admin.get(url).status_code == 404, url


def test_names_are_escaped_and_pages_carry_no_inline_script(app: Flask) -> None:
    admin = signed_in(app, "admin")
    for url in ("/", "/live", "/playback", "/events", "/export", "/compliance", "/settings",
                "/users", "/audit", "/system"):
        response = admin.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "<script>alert(1)" not in page, url
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        inline = [s for s in re.findall(r"<script[^>]*>", page)
                  if "src=" not in s and 'type="application/json"' not in s]
        assert not inline, (url, inline)
        assert ' style="' not in page, url  # CSP: styles come from the stylesheet only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;村口" in admin.get("/").get_data(as_text=True)
    # secrets are write-only: the camera's password never comes back
    assert "cam-secret" not in admin.get("/settings").get_data(as_text=True)


def test_the_first_admin_comes_from_the_setup_token(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG.replace("{data}", str(tmp_path / "data")), encoding="utf-8")
    cfg = config_mod.load(path)
    index = Index(cfg.data_dir)
    Accounts.create_schema(index.db)
    index.close()
    client = create_app(cfg, path).test_client()
    assert "设置口令" in client.get("/login").get_data(as_text=True)
    client.get("/setup")
    token = (cfg.data_dir / "setup-token").read_text().strip()
    form = {"name": "wang", "password": PASSWORD, "confirm": PASSWORD, "csrf": csrf(client)}
    assert "设置口令不正确" in client.post("/setup", data={**form, "token": "nope"}).get_data(
        as_text=True)
    assert client.post("/setup", data={**form, "token": token}).status_code == 302
    assert client.get("/users").status_code == 200  # signed in as the new admin
    assert not (cfg.data_dir / "setup-token").exists()
    assert client.get("/setup").status_code == 302  # used up


def test_settings_keep_comments_and_refuse_an_invalid_config(app: Flask) -> None:
    admin = signed_in(app, "admin")
    path: Path = app.extensions["edge"].config_path
    before = path.read_text(encoding="utf-8")
    form = {"csrf": csrf(admin), "node-id": "34020000001180000001", "node-name": "新村",
            "node-timezone": "Asia/Shanghai",
            "cam-0-id": CAM1, "cam-0-name": "村口东", "cam-0-key_area": "1", "cam-0-record": "1",
            "cam-0-url": "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101",
            "cam-1-id": CAM2, "cam-1-name": "村委会", "cam-1-record": "1",
            "cam-1-url": "rtsp://10.0.0.6/live"}
    bad = {**form, "node-id": "３４020000001180000001"}  # full-width digits
    page = admin.post("/settings", data=bad).get_data(as_text=True)
    assert "node.id" in page and "非 ASCII" in page
    assert path.read_text(encoding="utf-8") == before  # never written
    assert "配置未保存" in page
    assert "已保存" in admin.post("/settings", data=form).get_data(as_text=True)
    after = path.read_text(encoding="utf-8")
    assert "# 村口 (keep this comment)" in after and "# 测试节点 test node" in after
    cfg = config_mod.load(path)
    assert cfg.node.name == "新村" and cfg.cameras[0].name == "村口东"
    assert cfg.cameras[0].url.startswith("rtsp://admin:cam-secret@")  # *** kept the password
    actions = [(action, detail) for _, action, detail in audit(app)]
    assert ("settings_change", {"changed": ["node.name", "cameras[0].name"],
                                "ip": "127.0.0.1"}) in actions
    # a camera added and one removed in one go
    added = {**form, "cam-1-remove": "1", "cam-2-id": "34020000001320000003",
             "cam-2-name": "小学", "cam-2-url": "rtsp://10.0.0.7/live", "cam-2-record": "1"}
    admin.post("/settings", data=added)
    assert [c.id for c in config_mod.load(path).cameras] == [CAM1, "34020000001320000003"]


def test_a_cameras_onvif_and_place_from_the_settings_page_and_the_plan(app: Flask) -> None:
    """The ONVIF address and user, a write-only ONVIF password, the place and the way the
    camera looks: saved through the checker, shown again (never the password), drawn on
    the plan; a half-given place is refused by name."""
    admin = signed_in(app, "admin")
    path: Path = app.extensions["edge"].config_path
    assert "填写摄像机经纬度与朝向后" in admin.get("/settings").text  # no place yet: no plan
    form = {"csrf": csrf(admin), "node-id": "34020000001180000001", "node-name": "测试村",
            "node-timezone": "Asia/Shanghai", "node-longitude": "117.2835",
            "node-latitude": "31.8615",
            "cam-0-id": CAM1, "cam-0-name": "村口", "cam-0-record": "1",
            "cam-0-url": "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101",
            "cam-0-onvif": "10.0.0.5", "cam-0-onvif_user": "onvif",
            "cam-0-onvif_password": "onvif-secret", "cam-0-longitude": "117.283042",
            "cam-0-latitude": "31.861191", "cam-0-direction": "90", "cam-0-ptz_type": "1",
            "cam-0-home_preset": "3", "cam-0-home_seconds": "120",
            "cam-1-id": CAM2, "cam-1-name": "村委会", "cam-1-record": "1",
            "cam-1-url": "rtsp://10.0.0.6/live", "cam-1-longitude": "117.2841",
            "cam-1-latitude": "31.8618", "cam-1-ptz_type": "0"}
    assert "已保存" in admin.post("/settings", data=form).text
    cam = config_mod.load(path).cameras[0]
    assert (cam.onvif, cam.onvif_user, cam.onvif_password) == ("10.0.0.5", "onvif", "onvif-secret")
    assert (cam.longitude, cam.latitude, cam.direction, cam.ptz_type) == (
        117.283042, 31.861191, 90, 1)
    assert (cam.home_preset, cam.home_seconds) == (3, 120)
    assert config_mod.load(path).node.longitude == 117.2835
    assert "ptz_type" not in path.read_text(encoding="utf-8").split(CAM2)[1]  # default: left out
    page = admin.get("/settings").text
    assert "onvif-secret" not in page and 'value="10.0.0.5"' in page
    assert page.count('class="plan-cam"') == 2 and page.count('class="plan-box"') == 1
    assert 'class="plan-view"' in page  # camera 1 looks east
    # the password stays when the field is left empty
    admin.post("/settings", data={**form, "csrf": csrf(admin), "cam-0-onvif_password": ""})
    assert config_mod.load(path).cameras[0].onvif_password == "onvif-secret"
    half = {**form, "csrf": csrf(admin), "cam-1-latitude": ""}
    refused = admin.post("/settings", data=half).text
    assert "cameras[1].longitude" in refused and "配置未保存" in refused


def test_user_add_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG.replace("{data}", str(tmp_path / "data")), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "edge", "user", "add", "zhang", "--role",
                          "operator", "--cameras", CAM1, "--config", str(path)],
                         input=f"{PASSWORD}\n{PASSWORD}\n", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    mismatch = subprocess.run([sys.executable, "-m", "edge", "user", "add", "li", "--config",
                               str(path)], input=f"{PASSWORD}\nother-pass9\n",
                              capture_output=True, text=True)
    assert mismatch.returncode == 2 and "不一致" in mismatch.stderr
    listed = subprocess.run([sys.executable, "-m", "edge", "user", "list", "--config", str(path)],
                            capture_output=True, text=True).stdout
    assert f"zhang\toperator\t{CAM1}" in listed and "li" not in listed
    client = create_app(config_mod.load(path), path).test_client()
    assert login(client, "zhang").status_code == 302


def test_https_with_a_self_signed_pair(tmp_path: Path) -> None:
    """[web] tls_cert/tls_key: the UI answers over HTTPS only (the pair made as the example
    config says), and the supervisor's probe reaches it."""
    from edge.sim.server import free_port
    from edge.web.address import probe, url
    from tests.conftest import wait_for

    key, cert = tmp_path / "web.key", tmp_path / "web.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-subj", "/CN=edge", "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True)
    port = free_port()
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG.replace("{data}", str(tmp_path / "data")).replace(
        "[web]\n", f'[web]\nlisten = "127.0.0.1"\nport = {port}\ntls_cert = "{cert}"\n'
                   f'tls_key = "{key}"\n'), encoding="utf-8")
    cfg = config_mod.load(path)
    web = subprocess.Popen([sys.executable, "-m", "edge", "_web", "--config", str(path)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert url(cfg).startswith("https://")
        wait_for(lambda: probe(cfg), 20, "the web UI over HTTPS")
        import urllib.request

        with pytest.raises(OSError):  # plain HTTP is not served
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3).read()
    finally:
        web.terminate()
        web.wait(10)


def test_an_event_is_acknowledged_once_by_whom_and_audited(app: Flask) -> None:
    data = app.extensions["edge"].cfg.data_dir
    index = Index(data)
    event = index.add_event(CAM1, time.time(), "camera_offline", {"last_error": "超时 timeout"})
    index.close()
    viewer, operator = signed_in(app, "guard"), signed_in(app, "oper")
    page = viewer.get("/events").get_data(as_text=True)
    assert "摄像机离线" in page and "超时 timeout" in page
    assert viewer.post(f"/events/{event}/ack", data={"csrf": csrf(viewer)}).status_code == 403
    assert operator.post(f"/events/{event}/ack", data={"csrf": csrf(operator)}).status_code == 302
    assert operator.post(f"/events/{event}/ack", data={"csrf": csrf(operator)}).status_code == 404
    assert "oper 于" in operator.get("/events").get_data(as_text=True)
    assert ("web:oper", "ack_event", {"id": event, "ip": "127.0.0.1"}) in audit(app)


def test_a_detection_shows_its_picture_to_those_who_may_see_its_camera(app: Flask) -> None:
    data = app.extensions["edge"].cfg.data_dir
    pictures = data / "snapshots" / CAM2 / "2026-12-03"
    pictures.mkdir(parents=True)
    (pictures / "1_1.jpg").write_bytes(b"\xff\xd8whole frame")
    (pictures / "1_1.crop.jpg").write_bytes(b"\xff\xd8the person")
    (data / "secret.jpg").write_bytes(b"not a snapshot")
    now = time.time()
    index = Index(data)
    seen = index.add_event(CAM2, now, "detection", {
        "label": "person", "score": 0.87, "box": [0.1, 0.2, 0.3, 0.6], "zones": ["门口"],
        "start": now, "end": now + 12, "path": []}, "snapshots/" + CAM2 + "/2026-12-03/1_1.jpg")
    sneaky = index.add_event(CAM2, now, "detection", {"label": "person"}, "secret.jpg")
    index.add_event(CAM2, now, "detection", {"label": "vehicle", "score": 0.7}, None)
    index.close()
    admin = signed_in(app, "admin")
    page = admin.get("/events?kind=detection").get_data(as_text=True)
    assert "行人" in page and "置信度 0.87" in page and "持续 12 秒" in page and "门口" in page
    assert f"/events/{seen}/picture?crop=1" in page and f"at={int(now) - 5}" in page
    assert "车辆" in page and "行人" not in admin.get(
        "/events?kind=detection&label=vehicle").get_data(as_text=True).split("<section")[-1]
    with admin.get(f"/events/{seen}/picture?crop=1") as crop:
        assert crop.status_code == 200 and crop.data == b"\xff\xd8the person"
    with admin.get(f"/events/{seen}/picture") as whole:
        assert whole.data == b"\xff\xd8whole frame"
    actions = [(a, d.get("id")) for _, a, d in audit(app)]
    assert ("event_picture", seen) in actions  # the whole scene, audited
    assert admin.get(f"/events/{sneaky}/picture").status_code == 404  # outside snapshots/
    assert admin.get("/events/999999/picture").status_code == 404
    viewer = signed_in(app, "guard")  # camera 1 only
    assert viewer.get(f"/events/{seen}/picture?crop=1").status_code == 404  # as if absent
    assert f"/events/{seen}/picture" not in viewer.get("/events").get_data(as_text=True)


def test_a_turned_camera_shows_on_its_tile_and_its_new_view_is_accepted(app: Flask) -> None:
    data = app.extensions["edge"].cfg.data_dir
    index = Index(data)
    index.raise_alarm(CAM1, "quality_turned", "场景变更 (摄像机被转动) the camera looks "
                      "elsewhere (turned): likeness 0.02", time.time())
    index.add_event(CAM1, time.time(), "detection", {"label": "person"})
    index.close()
    admin, oper = signed_in(app, "admin"), signed_in(app, "oper")
    page = admin.get("/").get_data(as_text=True)
    assert "场景变更" in page and "接受当前视角为正常" in page
    assert "今日检测: 行人 1" in page
    assert 'class="tile missed' in page  # a key-area camera not in working order
    assert "接受当前视角为正常" not in oper.get("/").get_data(as_text=True)
    assert oper.post(f"/quality/{CAM1}/accept-view", data={"csrf": csrf(oper)}).status_code == 403
    assert admin.post(f"/quality/{CAM1}/accept-view", data={"csrf": csrf(admin)}).status_code == 302
    assert (data / "quality" / f"{CAM1}.accept").exists()
    assert ("quality_accept_view", CAM1) in [(a, d.get("channel")) for _, a, d in audit(app)]


def test_an_update_bundle_is_checked_on_upload_and_handed_to_the_update_service(
        tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.update.bundle import build, public_hex
    from edge.update.request import read_state, take

    key = Ed25519PrivateKey.generate()
    (tmp_path / "update.pub").write_text(public_hex(key))
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG.replace("{data}", str(tmp_path / "data")) + f"""
[update]
public_key = "{tmp_path / 'update.pub'}"
max_bundle_mb = 1
""", encoding="utf-8")
    cfg = config_mod.load(path)
    index = Index(cfg.data_dir)
    Accounts.create_schema(index.db)
    Accounts(index.db).add("admin", PASSWORD, "admin")
    Accounts(index.db).add("oper", PASSWORD, "operator")
    index.close()
    app = create_app(cfg, path)
    good, old = tmp_path / "good.bundle", tmp_path / "old.bundle"
    build(good, key, "9.0.0", {"overlay/etc/edge/motd": b"9\n"}, "2026-12-03T12:00:00Z")
    build(old, key, "0.0.1", {"overlay/etc/edge/motd": b"0\n"}, "2026-12-03T12:00:00Z")
    tampered = good.read_bytes().replace(b'"version": "9.0.0"', b'"version": "9.0.1"')

    def upload(client: FlaskClient, data: bytes, **form: str) -> Any:
        return client.post("/system/update", content_type="multipart/form-data", data={
            "csrf": csrf(client), "confirm": "1", **form,
            "bundle": (io.BytesIO(data), "edge.bundle")})

    admin = signed_in(app, "admin")
    assert "上传并升级" in admin.get("/system").get_data(as_text=True)
    # an operator may not update, and is refused before the body is read
    assert upload(signed_in(app, "oper"), good.read_bytes()).status_code == 403
    too_big = admin.post("/system/update", data=bytes(2 << 20),  # over max_bundle_mb
                         content_type="multipart/form-data; boundary=x")
    assert too_big.status_code == 413 and "上传的文件太大" in too_big.get_data(as_text=True)
    page = upload(admin, tampered).get_data(as_text=True)
    assert "banner bad" in page and "signature" in page
    page = upload(admin, old.read_bytes()).get_data(as_text=True)
    assert "拒绝降级" in page
    updates = cfg.data_dir / "updates"
    assert not (updates / "request.json").exists()
    assert not list(updates.glob("*.bundle"))  # refused uploads are not kept
    # without the box's update key (an image built without UPDATE_PUBLIC_KEY): a clear
    # message, and nothing left on disk (issue 22, finding 10)
    (tmp_path / "update.pub").rename(tmp_path / "away.pub")
    answer = upload(admin, good.read_bytes())
    assert answer.status_code == 200 and "本机没有升级公钥" in answer.get_data(as_text=True)
    assert not list(updates.glob("*.bundle"))
    (tmp_path / "away.pub").rename(tmp_path / "update.pub")

    page = upload(admin, good.read_bytes()).get_data(as_text=True)
    assert "升级包已通过校验" in page and 'http-equiv="refresh"' in page
    assert read_state(cfg.data_dir)["state"] == "requested"
    assert "另一次升级正在进行" in upload(admin, good.read_bytes()).get_data(as_text=True)
    request = take(cfg.data_dir)  # what edge-update.service is started for
    assert request.bundle == updates / "edge-9.0.0.bundle" and request.bundle.read_bytes() == \
        good.read_bytes() and request.by == "web:admin" and not request.allow_downgrade
    actions = [(actor, action) for actor, action, _ in audit(app)]
    assert actions.count(("web:admin", "update_refused")) == 4  # tampered, old, no key, busy
    assert ("web:admin", "update_requested") in actions
    # nobody takes it (no edge-update.path here): after TAKE_S the page says so, and a new
    # upload may replace it
    from edge.update.request import TAKE_S

    (updates / "request.json").write_text('{"bundle": "edge-9.0.0.bundle"}')
    state = read_state(cfg.data_dir)
    (updates / "state.json").write_text(json.dumps({**state, "ts": state["ts"] - TAKE_S - 1}))
    page = admin.get("/system").get_data(as_text=True)
    assert "edge-update.path" in page and 'http-equiv="refresh"' not in page
    assert "上传并升级" in page


def test_a_camera_limited_operator_acknowledges_only_its_cameras_events(app: Flask) -> None:
    """Issue 22, finding 5: the event's or alarm's channel is checked, and an object the
    user may not touch answers as one that does not exist (no ID oracle)."""
    index = Index(app.extensions["edge"].cfg.data_dir)
    Accounts(index.db).add("oper1", PASSWORD, "operator", cameras=[CAM1])
    now = time.time()
    mine = index.add_event(CAM1, now, "camera_offline", {"name": "a"})
    theirs = index.add_event(CAM2, now, "camera_offline", {"name": "b"})
    nodes = index.add_event("node", now, "disk_low", {})
    index.raise_alarm(CAM2, "retention_below_minimum", "only 59 days kept", now)
    alarm = index.alarms()[-1].id
    index.close()
    oper = signed_in(app, "oper1")
    token = csrf(oper)
    assert oper.post(f"/events/{mine}/ack", data={"csrf": token}).status_code == 302
    for path in (f"/events/{theirs}/ack", f"/events/{nodes}/ack", f"/alarms/{alarm}/ack",
                 "/events/99999999/ack"):
        assert oper.post(path, data={"csrf": token}).status_code == 404, path
    index = Index(app.extensions["edge"].cfg.data_dir, readonly=True)
    acked = {e.id: e.acked_by for e in index.events(now - 10, now + 10, None, None, False, 100, None)}
    index.close()
    assert acked[mine] == "oper1" and acked[theirs] is None and acked[nodes] is None
    admin = signed_in(app, "admin")
    assert admin.post(f"/alarms/{alarm}/ack", data={"csrf": csrf(admin)}).status_code == 302


def test_a_redirect_back_never_leaves_the_site(app: Flask) -> None:
    """Finding 12: the Referer is followed only when it names this site."""
    index = Index(app.extensions["edge"].cfg.data_dir)
    ids = [index.add_event(CAM1, time.time(), "camera_offline", {}) for _ in range(3)]
    index.close()
    admin = signed_in(app, "admin")
    token = csrf(admin)
    away = admin.post(f"/events/{ids[0]}/ack", data={"csrf": token},
                      headers={"Referer": "https://evil.example/phish"})
    assert away.headers["Location"] == "/events"
    home = admin.post(f"/events/{ids[1]}/ack", data={"csrf": token},
                      headers={"Referer": "http://localhost/events?kind=camera_offline"})
    assert home.headers["Location"] == "/events?kind=camera_offline"
    sneaky = admin.post(f"/events/{ids[2]}/ack", data={"csrf": token},
                        headers={"Referer": "//evil.example/x"})
    assert sneaky.headers["Location"] == "/events"


@pytest.mark.parametrize("path", [
    "/events/99999999999999999999999/picture", "/events?before=99999999999999999999999",
    "/events?to=9999-12-31", "/events?from=0001-01-01", "/events?from=２０２６-01-01",
    "/playback?day=9999-12-31", "/compliance?month=9999-12", "/compliance.csv?month=12-2026",
    "/counts?day=2026-02-30", "/counts.csv?day=x",
    "/audit?from=2026-13-01"])
def test_crafted_parameters_get_a_400_or_404_never_a_500(app: Flask, path: str) -> None:
    """Finding 9: one bounded parser for query-string numbers and dates."""
    answer = signed_in(app, "admin").get(path)
    assert answer.status_code in (400, 404), (path, answer.status_code)
    if answer.status_code == 400:
        assert re.search(r"<p>(from|to|day|month|before): (日期|年份|不是有效编号)",
                         answer.get_data(as_text=True)), answer.get_data(as_text=True)[-400:]


def test_a_saved_camera_password_is_never_sent_to_another_host(app: Flask) -> None:
    """Finding 3: a probe, or a saved form, that points the starred URL elsewhere gets a
    message naming the field, and the listener there hears nothing; the file is unchanged."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(3.0)
    port = listener.getsockname()[1]
    admin = signed_in(app, "admin")
    token = csrf(admin)
    try:
        probe = admin.post("/api/probe", json={"url": f"rtsp://admin:***@127.0.0.1:{port}/x",
                                               "camera": 0}, headers={"X-CSRF-Token": token})
        assert probe.status_code == 400 and "已保存的密码只用于原摄像机地址" in probe.get_json()["error"]
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    config = app.extensions["edge"].config_path
    before = config.read_text(encoding="utf-8")
    form = {"csrf": token, "node-id": "34020000001180000001", "node-name": "测试村",
            "cam-0-id": CAM1, "cam-0-name": "村口", "cam-0-record": "1",
            "cam-0-url": f"rtsp://admin:***@127.0.0.1:{port}/Streaming/Channels/101",
            "cam-1-id": CAM2, "cam-1-name": "村委会", "cam-1-url": "rtsp://10.0.0.6/live",
            "cam-1-record": "1"}
    page = admin.post("/settings", data=form).get_data(as_text=True)
    assert "cameras[0].url: 已保存的密码只用于原摄像机地址" in page
    assert config.read_text(encoding="utf-8") == before


def test_https_pages_carry_hsts_and_plain_http_does_not(app: Flask) -> None:
    """Finding 11: over HTTPS (the box's first-boot pair) the browser is told to stay on it."""
    client = app.test_client()
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_exports_run_one_at_a_time_and_three_per_user(app: Flask) -> None:
    """Finding 6: four exports asked at once do not run at once; the queue shows on the
    page, and a fourth from the same user is refused with a message."""
    from edge.web.views import export

    admin = signed_in(app, "admin")
    form = {"csrf": csrf(admin), "channel": CAM1, "from": "2026-11-22 08:00",
            "to": "2026-11-22 08:10"}
    export.EXPORT_SLOTS.acquire()  # an export already running on the box
    try:
        for _ in range(3):
            assert admin.post("/export", data=form).status_code == 302
        page = admin.get("/export").get_data(as_text=True)
        assert page.count("排队中") == 3
        refused = admin.post("/export", data=form).get_data(as_text=True)
        assert "您已有 3 个导出在进行或排队" in refused
    finally:
        export.EXPORT_SLOTS.release()
    wait_for(lambda: "排队中" not in admin.get("/export").get_data(as_text=True), 60,
             "the queue worked off, one at a time")


def test_what_first_boot_could_not_do_is_on_the_dashboard(
        app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No edge-data partition, footage left unencrypted: said on the dashboard (as on the
    box's screen), not only in the journal of a boot long gone."""
    from edge import bootnotes

    notes = tmp_path / "firstboot-notes"
    monkeypatch.setattr(bootnotes, "NOTES", notes)
    viewer = signed_in(app, "guard")
    assert "首次启动未完成的事项" not in viewer.get("/").get_data(as_text=True)
    notes.write_text("录像未加密 footage is not encrypted: cryptsetup failed\n\n")
    page = viewer.get("/").get_data(as_text=True)
    assert "首次启动未完成的事项" in page and "录像未加密 footage is not encrypted" in page


def test_a_clock_never_synchronised_is_on_the_dashboard(
        app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A box without network or RTC battery records with times that may be wrong: the duty
    officer is told. timedatectl needs a running systemd, which a container has not: a
    stand-in on PATH answers as it does on the box."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = bin_dir / "answer"
    tool = bin_dir / "timedatectl"
    tool.write_text(f"#!/bin/sh\ncat {answer}\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    viewer = signed_in(app, "guard")
    answer.write_text("no\n")
    assert "时间未同步" in viewer.get("/").get_data(as_text=True)
    answer.write_text("yes\n")
    page = viewer.get("/").get_data(as_text=True)
    assert "时间已同步" in page and "时间未同步" not in page


def test_crossings_are_counted_per_hour_shown_and_exported_for_those_who_may_see_them(
        tmp_path: Path) -> None:
    app = make_app(tmp_path, CONFIG + '[[cameras.tripwires]]\nname = "=村道"\n'
                                      'line = [[0.1, 0.5], [0.9, 0.5]]\n')  # on CAM2
    data = app.extensions["edge"].cfg.data_dir
    today = local_day(time.time(), "Asia/Shanghai")[2]  # the node's time zone
    index = Index(data)
    now = time.time()
    for i, (way, label, armed) in enumerate([("a_to_b", "person", True),
                                             ("a_to_b", "person", False),
                                             ("b_to_a", "vehicle", True)]):
        index.add_event(CAM2, now - i, "tripwire", {"rule": "=村道", "direction": way,
                                                    "label": label, "score": 0.8,
                                                    "armed": armed}, None)
    index.close()
    admin = signed_in(app, "admin")
    page = admin.get("/counts").get_data(as_text=True)
    assert "过线计数" in page and "村委会" in page and "A→B" in page and "<b>2</b>" in page
    assert "只看关键帧" in page  # no sub stream: crossings between keyframes go unseen
    csv = admin.get(f"/counts.csv?day={today}").get_data(as_text=True)
    lines = csv.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("日期 date,") and len(lines) == 3
    row = lines[1].split(",")
    assert row[3] == "'=村道" and row[4] == "A→B" and row[5] == "person" and row[-1] == "2"
    assert sum(int(n) for n in row[6:30]) == 2
    assert ("web:admin", "counts_csv") in [(a, b) for a, b, _ in audit(app)]
    events = admin.get("/events?kind=tripwire").get_data(as_text=True)
    assert "越线" in events and "越过 =村道 (B→A)" in events and "未布防" in events
    assert "今日过线" in admin.get("/").get_data(as_text=True)
    guard = signed_in(app, "guard")  # camera 1 only: none of camera 2's crossings
    assert "村委会" not in guard.get("/counts").get_data(as_text=True)
    assert len(guard.get("/counts.csv").get_data(as_text=True).splitlines()) == 1


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.bodies.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

    def log_message(self, *args: object) -> None:
        pass


def test_alert_receivers_are_edited_tested_and_their_log_is_on_the_events_page(
        tmp_path: Path) -> None:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_port}/hook"
    app = make_app(tmp_path, CONFIG + f'\n[[alerts]]\nname = "值班群"\ntype = "webhook"\n'
                                      f'url = "{url}?token=s3cret"\nsecret = "hmac-key"\n')
    admin = signed_in(app, "admin")
    page = admin.get("/alerts").get_data(as_text=True)
    assert "值班群" in page and "s3cret" not in page and "hmac-key" not in page
    assert f"{url}?***" in page  # the key in the URL is write-only too
    try:
        tested = admin.post("/alerts", data={"csrf": csrf(admin), "test": "值班群"})
        text = tested.get_data(as_text=True)
        assert "测试告警已送达 值班群" in text and "HTTP 200" in text
        headers, body = _Hook.bodies[-1]
        sent = json.loads(body)
        assert sent["kind"] == "test" and "admin" in sent["text"]
        mac = hmac.new(b"hmac-key", headers["X-Edge-Timestamp"].encode() + b"." + body,
                       hashlib.sha256).hexdigest()
        assert headers["X-Edge-Signature"] == "sha256=" + mac
    finally:
        hook.shutdown()
        hook.server_close()
    failed = admin.post("/alerts", data={"csrf": csrf(admin), "test": "值班群"})
    assert "测试告警未能送达" in failed.get_data(as_text=True)  # the receiver is gone now
    assert [d["ok"] for _, a, d in audit(app) if a == "alert_test"] == [True, False]
    # an edit keeps the saved key and secret; a bad quiet range is refused, nothing written
    form = {"csrf": csrf(admin), "al-0-name": "值班群", "al-0-type": "webhook",
            "al-0-url": f"{url}?***", "al-0-max_per_10min": "3", "al-0-enabled": "1",
            "al-0-ev-tripwire": "1", "al-0-ev-camera_offline": "1", "al-0-quiet": "25:00-26:00",
            "al-1-name": "钉钉", "al-1-type": "dingtalk",
            "al-1-url": "https://oapi.dingtalk.com/robot/send?access_token=abc",
            "al-1-secret": "SEC123", "al-1-cameras": CAM1, "al-1-max_per_10min": "5"}
    for e in config_mod.ALERT_EVENTS:
        form[f"al-1-ev-{e}"] = "1"
    refused = admin.post("/alerts", data=form).get_data(as_text=True)
    assert "alerts[0].quiet" in refused and "HH:MM-HH:MM" in refused
    form["al-0-quiet"] = "22:00-06:00"
    admin.post("/alerts", data=form)
    saved = config_mod.load(tmp_path / "edge.toml")
    duty, ding = saved.alerts
    assert duty.url == f"{url}?token=s3cret" and duty.secret == "hmac-key"
    assert duty.events == ("tripwire", "camera_offline") and duty.quiet == ("22:00-06:00",)
    assert duty.max_per_10min == 3 and not duty.pictures
    assert ding.secret == "SEC123" and ding.cameras == (CAM1,)
    assert ding.events == config_mod.ALERT_EVENTS  # all ticked: the default, new kinds too
    assert "events" not in (tmp_path / "edge.toml").read_text().split("钉钉")[1]
    # the log: what went to whom, for those who may see the camera
    from edge.alerts.store import AlertStore
    store = AlertStore(saved.data_dir)
    now = time.time()
    store.add("值班群", {"camera_id": CAM2, "camera_name": "村委会", "text": "发现行人 越线"},
              None, "queued", now)
    store.attempted(1, "queued", "HTTP 500: busy", now + 10, now)
    store.add("值班群", {"camera_id": CAM1, "camera_name": "村口", "text": "摄像机离线"},
              None, "sent", now)
    store.close()
    events = admin.get("/events").get_data(as_text=True)
    assert "推送记录" in events and "HTTP 500: busy" in events and "待重发" in events
    guard = signed_in(app, "guard")  # camera 1 only
    log = guard.get("/events").get_data(as_text=True).split('id="alert-log"')[-1]
    assert "摄像机离线" in log and "越线" not in log
    assert guard.get("/alerts").status_code == 403


def test_rules_are_tried_on_the_last_hour_and_saved_through_the_checker(app: Flask) -> None:
    data = app.extensions["edge"].cfg.data_dir
    now = time.time()
    index = Index(data)
    for i in range(3):  # three people walked down across the middle of the picture
        index.add_event(CAM2, now - 600 + i, "detection", {
            "label": "person", "box": [0.47, 0.3, 0.53, 0.5],
            "path": [[now - 600 + i + k, 0.5, 0.2 + 0.1 * k] for k in range(7)]}, None)
    index.add_event(CAM2, now - 500, "detection", {"label": "person", "box": "x",
                                                   "path": [[1, 2]]}, None)  # not readable
    index.close()
    admin = signed_in(app, "admin")
    token = csrf(admin)
    rules = {"zones": [], "masks": [],
             "tripwires": [{"name": "村道", "line": [[0.1, 0.5], [0.9, 0.5]],
                            "direction": "both", "schedule": []}]}
    tried = admin.post(f"/rules/{CAM2}/try", json=rules, headers={"X-CSRF-Token": token})
    assert tried.json == {"ok": True, "objects": 3, "found": {"村道 a_to_b": 3}}
    bad = {**rules, "tripwires": [{"name": "村道", "line": [[0.5, 0.5], [0.5, 0.5]]}]}
    refused = admin.post(f"/rules/{CAM2}", json=bad, headers={"X-CSRF-Token": token})
    assert refused.status_code == 400 and "线太短" in refused.json["problems"][0]
    assert admin.post(f"/rules/{CAM2}", json={"zones": [{"polygon": "x"}]},
                      headers={"X-CSRF-Token": token}).status_code == 400
    assert config_mod.load(app.extensions["edge"].config_path).camera(CAM2).tripwires == ()
    saved = admin.post(f"/rules/{CAM2}", json=rules, headers={"X-CSRF-Token": token})
    assert saved.json == {"ok": True, "problems": []}
    assert config_mod.load(app.extensions["edge"].config_path).camera(CAM2).tripwires[0].name \
        == "村道"
    assert ("web:admin", "rules_change") in [(a, b) for a, b, _ in audit(app)]
    guard = signed_in(app, "guard")
    assert guard.post(f"/rules/{CAM2}/try", json=rules,
                      headers={"X-CSRF-Token": csrf(guard)}).status_code == 403


def test_a_user_turns_alerts_on_for_a_device_and_the_worker_and_manifest_are_open(
        tmp_path: Path) -> None:
    from edge.alerts.webpush import b64url, unb64url

    app = make_app(tmp_path, CONFIG + '\n[[alerts]]\nname = "值班手机"\ntype = "webpush"\n')
    anonymous = app.test_client()
    worker = anonymous.get("/sw.js")  # re-fetched by the browser with no session
    assert worker.status_code == 200 and "showNotification" in worker.get_data(as_text=True)
    assert worker.mimetype == "text/javascript"
    manifest = anonymous.get("/manifest.webmanifest").get_json(force=True)
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    assert anonymous.get("/push/key").status_code == 302
    guard = signed_in(app, "guard")
    page = guard.get("/account").get_data(as_text=True)
    assert "在本设备接收告警" in page and "值班手机" in page
    key = unb64url(guard.get("/push/key").get_json()["key"])
    assert len(key) == 65 and key[0] == 4  # an uncompressed P-256 point: applicationServerKey
    assert guard.get("/push/key").get_json()["key"] == b64url(key)  # one key, kept
    good = {"endpoint": "https://push.example.net/wpush/v2/abc",
            "keys": {"p256dh": b64url(b"\x04" + bytes(64)), "auth": b64url(bytes(16))}}
    headers = {"X-CSRF-Token": csrf(guard)}
    for bad in ({"endpoint": "http://push.example.net/x", "keys": good["keys"]},
                {"endpoint": good["endpoint"], "keys": {"p256dh": "AAAA", "auth": "AAAA"}},
                {"endpoint": good["endpoint"], "keys": {"p256dh": "%%%", "auth": 1}},
                {"endpoint": "https://" + "a" * 2000, "keys": good["keys"]},
                {"endpoint": "https://pus]h.example.net/x", "keys": good["keys"]},  # fuzz
                [], "x"):
        assert guard.post("/push/subscribe", json=bad, headers=headers).status_code == 400, bad
    assert guard.post("/push/subscribe", json=good, headers=headers).get_json() == {"ok": True}
    page = guard.get("/account").get_data(as_text=True)
    assert "push.example.net" in page
    # another user cannot turn off guard's device; guard can
    oper = signed_in(app, "oper")
    assert oper.post("/push/unsubscribe", json={"endpoint": good["endpoint"]},
                     headers={"X-CSRF-Token": csrf(oper)}).get_json() == {"ok": False}
    assert guard.post("/push/unsubscribe", json={"endpoint": good["endpoint"]},
                      headers=headers).get_json() == {"ok": True}
    assert "push.example.net" not in guard.get("/account").get_data(as_text=True)
    assert [a for _, a, _ in audit(app) if a.startswith("push_")] == [
        "push_subscribe", "push_unsubscribe"]
