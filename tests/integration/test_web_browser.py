"""The web UI in a real browser (Debian's Chromium driven by Playwright, headless) against
`edge run` with four simulated cameras, one of them looking at a face: sign in, the
dashboard shows four cameras online, an H.264 tile plays live, playback from 20 s ago
plays, an export downloads and decodes with the right duration, a desensitised export
leaves no face BlazeFace can find (where the plain export of the same range has one), and
the audit log lists all of it. Screenshots of every page, desktop and 360 px wide, are
saved in the test's temp dir."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import pytest

from edge import config as config_mod
from edge.record.index import Index
from edge.sim.clips import ClipSpec, ensure_clip, read_counter
from edge.sim.server import CameraServer, free_port
from edge.timefmt import format_time
from edge.web.accounts import Accounts
from tests.conftest import CLIP_CACHE, ROOT, Daemon, wait_for, write_config

CHROMIUM = "/usr/bin/chromium"
CAMS = {"h264": "34020000001320000001", "h265": "34020000001320000002",
        "h264_aac": "34020000001320000003", "face": "34020000001320000004"}
PASSWORD = "village2026"
TZ = "Asia/Shanghai"
PAGES = ["/", "/live", "/playback", "/events", "/export", "/compliance", "/settings", "/users",
         "/audit", "/system", "/account", "/rules", "/alerts"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def node(tmp_path: Path, cameras: Callable[..., CameraServer],
         clips: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    face = ensure_clip(ClipSpec("t-face", picture=str(ROOT / "tests" / "data" / "astronaut.jpg")),
                       CLIP_CACHE)
    server = cameras({"/h264": "h264", "/h265": "h265", "/aac": "h264_aac"})
    face_server = CameraServer({"/face": face}).start()
    port = free_port()
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "edge.toml", data,
        [(CAMS["h264"], server.url("/h264")), (CAMS["h265"], server.url("/h265")),
         (CAMS["h264_aac"], server.url("/aac")), (CAMS["face"], face_server.url("/face"))],
        extra=f'\n[web]\nlisten = "127.0.0.1"\nport = {port}\n')
    index = Index(data)
    Accounts.create_schema(index.db)
    Accounts(index.db).add("admin", PASSWORD, "admin", display="王管理员")
    index.close()
    daemon = Daemon(config).start()
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 30, "the web UI")
        yield f"http://127.0.0.1:{port}", data
    finally:
        daemon.stop()
        face_server.stop()


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _local(ts: float) -> str:
    return format_time(ts, TZ)


def test_the_monitoring_room_in_a_browser(browser: Any, node: tuple[str, Path],
                                          tmp_path: Path) -> None:
    base, data = node
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser.new_context(viewport={"width": 1366, "height": 900},
                               accept_downloads=True).new_page()
    page.goto(base + "/live")  # not signed in: to the sign-in page, and back after it
    assert "/login" in page.url
    page.fill("input[name=name]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url("**/live")

    # dashboard: four cameras online (it refreshes itself every 5 s)
    page.goto(base + "/")
    wait_for(lambda: page.locator(".tile .ok", has_text="在线").count() == 4, 40,
             "four cameras online on the dashboard")
    wait_for(lambda: page.locator(".tile img").count() == 4, 30, "four thumbnails")

    # live: the H.264 tile plays (its video's clock advances); the H.265 tile says why not
    page.goto(base + "/live?layout=4")
    tile = f'.cell[data-channel="{CAMS["h264"]}"] video'
    wait_for(lambda: page.eval_on_selector(tile, "v => v.currentTime") > 1.0, 20,
             "the live H.264 tile playing")
    first = page.eval_on_selector(tile, "v => v.currentTime")
    time.sleep(2)
    assert page.eval_on_selector(tile, "v => v.currentTime") > first + 1.0
    h265 = page.locator(f'.cell[data-channel="{CAMS["h265"]}"] .msg')
    wait_for(lambda: "H.265" in h265.inner_text() or h265.is_hidden(), 20, "the H.265 tile")
    page.goto(base + "/")  # leave the live page: its views end and are audited

    # playback from 20 s ago plays (once there are 25 s of footage)
    wait_for(lambda: (oldest := _oldest(data, CAMS["h264"])) and oldest < time.time() - 25, 40,
             "25 s of footage")
    at = time.time() - 20
    page.goto(f"{base}/playback?channel={CAMS['h264']}&at={at:.0f}")
    video = "#playback video"
    wait_for(lambda: page.eval_on_selector(video, "v => v.currentTime") > 0.5, 60,
             "playback playing")  # a busy machine can take a while
    # the clock under the video reads the moment asked for (from the keyframe before it)
    shown = [int(x) for x in page.inner_text("#pb-clock")[-8:].split(":")]
    wanted = [int(x) for x in _local(at)[11:19].split(":")]
    drift = (shown[0] * 3600 + shown[1] * 60 + shown[2]) - (
        wanted[0] * 3600 + wanted[1] * 60 + wanted[2])
    timeline = page.request.get(f"{base}/api/timeline/{CAMS['h264']}?from={at - 600:.0f}&to="
                                f"{at + 600:.0f}").json()
    assert -3 <= drift % 86_400 <= 10 or -3 <= drift <= 10, (shown, wanted, at, timeline)
    # it goes on playing (a busy machine may play slower: assert it advances, not how fast)
    start_t = page.eval_on_selector(video, "v => v.currentTime")
    wait_for(lambda: page.eval_on_selector(video, "v => v.currentTime") > start_t + 1.0, 30,
             "playback advancing")

    # a plain export of 20 s, downloaded and decoded
    wait_for(lambda: (oldest := _oldest(data, CAMS["h264"])) and oldest < time.time() - 40, 40,
             "40 s of footage")
    start, end = time.time() - 35, time.time() - 15
    plain = _export(page, base, CAMS["h264"], start, end, tmp_path / "plain.mp4")
    with av.open(str(plain)) as container:
        seconds = float(container.duration or 0) / av.time_base
    assert 19.0 <= seconds <= 22.5, seconds  # from the keyframe at or before the start
    sha = page.locator("tr[data-state=done] td.mono").first.inner_text()
    assert len(sha) == 64

    # desensitised: the face that is there in the plain export is gone
    from edge.detect.faces import FaceDetector

    detector = FaceDetector()
    face_start, face_end = time.time() - 14, time.time() - 10
    original = _export(page, base, CAMS["face"], face_start, face_end, tmp_path / "face.mp4")
    blurred = _export(page, base, CAMS["face"], face_start, face_end, tmp_path / "blur.mp4",
                      desensitise=True)
    # frames paired by their burned-in counter: each face found in the plain export (a
    # confident one) has nothing BlazeFace would call a face where it was, once blurred
    plain_frames = {read_counter(_gray(f)): f for f in _frames(original)}
    pairs = [(plain_frames[c], f) for f in _frames(blurred)[::5]
             if (c := read_counter(_gray(f))) in plain_frames]
    assert len(pairs) >= 15, len(pairs)
    faces = 0
    for before, after in pairs:
        for face in [b for b in detector.detect(before) if b.score >= 0.8]:
            faces += 1
            cx, cy = (face.xmin + face.xmax) / 2, (face.ymin + face.ymax) / 2
            left = [b for b in detector.detect(after) if b.xmin <= cx <= b.xmax
                    and b.ymin <= cy <= b.ymax]
            assert not left, (face, left)
    assert faces >= len(pairs)  # the face was there in every plain frame

    # the audit log has all of it
    page.goto(base + "/audit")
    text = page.inner_text("main")
    for action in ("login", "live_view", "playback", "export", "export_download"):
        assert action in text, action

    # screenshots of every page, desktop and phone
    for width, height in ((1366, 900), (360, 780)):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies(page.context.cookies())
        viewer = context.new_page()
        for path in PAGES:
            viewer.goto(base + path)
            viewer.wait_for_timeout(2500 if path in ("/live", "/playback") else 500)
            name = path.strip("/") or "dashboard"
            viewer.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        context.close()
    keep = ROOT / ".cache" / "screenshots"  # for a person to look at after the run
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(shots, keep)

    # the rule editor: a tripwire and a zone drawn with the mouse, saved through the checker
    # (last: a save reloads the daemon, so the refused line comes first)
    page.goto(f"{base}/rules?camera={CAMS['h264']}")

    def at(x: float, y: float) -> None:
        stage = page.locator("#overlay").bounding_box()
        page.mouse.click(stage["x"] + x * stage["width"], stage["y"] + y * stage["height"])

    page.click("text=画绊线")  # a line of no length is refused, and nothing written
    at(0.3, 0.3)
    at(0.3, 0.3)
    page.click("#save")
    wait_for(lambda: "未保存" in page.inner_text("#result"), 20, "the bad line refused")
    assert "线太短" in page.inner_text("#result")
    assert config_mod.load(tmp_path / "edge.toml").camera(CAMS["h264"]).tripwires == ()
    page.locator("#rule-list button", has_text="删除").click()
    page.click("text=画绊线")
    at(0.5, 0.9)
    at(0.5, 0.2)
    page.click("text=画区域")
    for x, y in ((0.1, 0.5), (0.4, 0.5), (0.4, 0.95)):
        at(x, y)
    page.click("#finish")
    page.locator("#rule-list fieldset").nth(0).locator("input").nth(1).fill("30")  # dwell
    page.locator("#rule-list select").select_option("a_to_b")
    page.click("#save")
    wait_for(lambda: "已保存" in page.inner_text("#result"), 20, "the rules saved")
    cam = next(c for c in config_mod.load(tmp_path / "edge.toml").cameras
               if c.id == CAMS["h264"])
    [wire], [zone] = cam.tripwires, cam.zones
    assert wire.direction == "a_to_b" and zone.dwell_seconds == 30
    flat = [v for point in wire.line + zone.polygon for v in point]
    assert flat == pytest.approx([0.5, 0.9, 0.5, 0.2, 0.1, 0.5, 0.4, 0.5, 0.4, 0.95], abs=0.01)

def test_an_alert_pushed_to_the_box_s_service_worker_is_shown_as_a_notification(
        browser: Any, tmp_path: Path) -> None:
    """The web UI's own service worker, in Chromium, turns a pushed alert into a system
    notification. The browser's side of a subscription needs its vendor's push service
    (Google's, for Chromium: not reachable here, and Playwright's profiles are incognito,
    where Chromium refuses push): the page says so, and the push is handed to the worker
    through the DevTools protocol, as the push service would hand it over. The box's
    encryption for a push service is proven in tests/integration/test_alerts.py."""
    import json
    import threading

    from werkzeug.serving import make_server

    from edge.alerts.formats import Alert, push_payload
    from tests.integration.test_web_app import CONFIG, make_app
    from tests.integration.test_web_app import PASSWORD as WEB_PASSWORD

    app = make_app(tmp_path, CONFIG + '\n[[alerts]]\nname = "值班手机"\ntype = "webpush"\n')
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"  # loopback: a secure context
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        context.grant_permissions(["notifications"], origin=base)
        page = context.new_page()
        page.goto(base + "/login")
        page.fill("input[name=name]", "guard")
        page.fill("input[name=password]", WEB_PASSWORD)
        page.click("button.primary")
        page.wait_for_url(base + "/")
        page.goto(base + "/account")
        wait_for(lambda: "未开启" in page.inner_text("#push-state"), 20,
                 "the service worker registered")
        page.click("#push-on")
        wait_for(lambda: "推送服务不可用" in page.inner_text("#push-state"), 20,
                 "the page saying the browser's push service is not there")
        devtools = context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        devtools.on("ServiceWorker.workerRegistrationUpdated",
                    lambda e: registrations.extend(e["registrations"]))
        devtools.send("ServiceWorker.enable")
        # Playwright hands over events only while it is called: wait through it
        wait_for(lambda: page.wait_for_timeout(100) or any(
            r["scopeURL"] == base + "/" for r in registrations), 20, "the worker's registration")
        alert = Alert("tripwire", "34020000001320000001", "村口", time.time(),
                      "2026-12-05 22:10:00", "有人越过 河堤线 (A→B) person crossed",
                      node_name="测试村", rule="河堤线", link=base + "/events", event_id=7)
        devtools.send("ServiceWorker.deliverPushMessage", {
            "origin": base + "/", "registrationId": registrations[-1]["registrationId"],
            "data": push_payload(alert).decode()})
        shown: list[Any] = []
        wait_for(lambda: shown.extend(page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.getNotifications())"
            ".then(all => all.map(n => [n.title, n.body, n.tag, n.data.url]))")) or shown,
            20, "the notification shown")
        title, body, tag, url = shown[0]
        assert title == "【越线】测试村 · 村口" and "河堤线" in body
        assert tag == "edge-tripwire-34020000001320000001-7" and url == base + "/events"
        assert json.loads(push_payload(alert))["title"] == title
    finally:
        context.close()
        server.shutdown()


def _export(page: Any, base: str, channel: str, start: float, end: float, target: Path,
            desensitise: bool = False) -> Path:
    page.goto(base + "/export")
    page.select_option("select[name=channel]", channel)
    page.fill("input[name=from]", _local(start))
    page.fill("input[name=to]", _local(end))
    if desensitise:
        page.check("input[name=desensitise]")
    page.click("button.primary")
    page.wait_for_url("**/export?job=*")
    job = page.url.split("job=")[1]
    row = f'tr[data-job="{job}"]'
    def ended() -> str:
        """The job's state once it is done or failed, else ""."""
        try:  # the page reloads itself too when a job leaves the queue or ends
            page.reload()
            state = page.locator(row).get_attribute("data-state") or ""
        except Exception as exc:  # playwright's Error: the frame went while reloading
            if type(exc).__name__ != "Error":
                raise
            return ""
        return state if state in ("done", "failed") else ""

    # a desensitised export decodes, looks for faces in and encodes every frame: with the
    # other test worker busy (building venvs, say) that takes minutes, not seconds
    state = wait_for(ended, 300 if desensitise else 120, "the export to end")
    assert state == "done", page.inner_text(row)
    with page.expect_download() as download:
        page.click(f"{row} a")
    download.value.save_as(str(target))
    return target


def _oldest(data: Path, channel: str) -> float | None:
    index = Index(data, readonly=True)
    try:
        return index.oldest(channel)
    finally:
        index.close()


def _gray(rgb: Any) -> Any:
    return rgb.mean(axis=2)


def _frames(path: Path) -> list[Any]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

