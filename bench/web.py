"""Benchmark: the web UI — first picture, server CPU per live viewer, memory.

1. Page open -> first decoded frame, in Debian's Chromium (headless, Playwright), on
   loopback: a 1-tile live page, median of 5, for an H.264 camera and an H.265 one (where
   the browser cannot play H.265 the time is to the first fallback picture, and said so).
2. Server CPU of live viewing with 16 cameras recording (720p25 H.264, 2 Mbit/s): the
   reference (recording only), then 4 browser tiles (one camera each), then the same 4
   cameras pulled as GB/T 28181 live sessions to local UDP sinks — the anchor. CPU is every
   process of the appliance (supervisor, recorder, web, thumbnails), not the browser's.
   Printed: % of one core per viewer for both and the ratio web/GB.
3. PSS of the web process, and of the whole appliance with 16 cameras and 4 viewers.

Usage: ``python bench/web.py [--seconds 30]``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media import Sink  # noqa: E402
from bench.procstat import cpu_seconds, pss_mb, tree, window_args  # noqa: E402
from bench.record import CLIP  # noqa: E402
from edge.record.index import Index  # noqa: E402
from edge.sim.clips import ClipSpec, ensure_clip  # noqa: E402
from edge.sim.server import CameraServer, free_port  # noqa: E402
from edge.web.accounts import Accounts  # noqa: E402
from tests.integration.scripted_platform import (  # noqa: E402
    PASSWORD as SIP_PASSWORD, SERVER, ScriptedPlatform, in_dialog, offer, register,
)
from tests.integration.test_media_live import invite_when_online  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]
USER_PASSWORD = "bench-pass-1"


def channel(i: int) -> str:
    return f"340200000013200000{i:02d}"


def node(work: Path, urls: list[str], sip: ScriptedPlatform, web_port: int) -> Path:
    lines = ["[node]", 'id = "34020000001180000001"', f'data_dir = "{work / "data"}"',
             f"sip_port = {free_port()}", "", "[web]", 'listen = "127.0.0.1"',
             f"port = {web_port}", "", "[media]", "max_sessions = 32", ""]
    for i, url in enumerate(urls, 1):
        lines += ["[[cameras]]", f'id = "{channel(i)}"', f'name = "c{i}"', f'url = "{url}"', ""]
    lines += ["[[platforms]]", f'id = "{SERVER}"', 'host = "127.0.0.1"',
              f"port = {sip.port}", f'password = "{SIP_PASSWORD}"']
    path = work / "edge.toml"
    path.write_text("\n".join(lines) + "\n")
    index = Index(work / "data")
    Accounts.create_schema(index.db)
    Accounts(index.db).add("bench", USER_PASSWORD, "admin")
    index.close()
    return path


def signed_in(browser, base: str):  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(base + "/login")
    page.fill("input[name=name]", "bench")
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("button.primary")
    page.wait_for_url(base + "/")
    return page


def first_frame_ms(browser, base: str, cam: str) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    """ms from navigation start to the first decoded frame (or fallback picture)."""
    page = signed_in(browser, base)
    page.goto(f"{base}/live?layout=1&cams={cam}")
    page.wait_for_function("""() => {
        const v = document.querySelector('.cell video');
        const img = document.querySelector('.cell img');
        return (v && v.readyState >= 2 && v.currentTime > 0) || (img && img.complete
            && img.naturalWidth > 0);
    }""", timeout=30000)
    how = page.evaluate("() => document.querySelector('.cell img') ? 'fallback' : 'MSE'")
    ms = page.evaluate("() => performance.now()")
    page.close()
    return ms, how


def page_weight(browser, base: str) -> int:  # type: ignore[no-untyped-def]
    """Bytes of the 16-tile live page and everything it loads, before any video."""
    page = signed_in(browser, base)
    sizes: list[int] = []
    page.on("response", lambda r: sizes.append(len(r.body()))
            if "/api/" not in r.url and not 300 <= r.status < 400 else None)  # no body
    page.goto(f"{base}/live?layout=16")
    page.wait_for_load_state("load")
    page.close()
    return sum(sizes)


def appliance(daemon: subprocess.Popen[bytes]) -> list[int]:
    return tree(daemon.pid)


def cpu_percent(pids: list[int], seconds: float) -> float:
    c0 = cpu_seconds(pids)
    time.sleep(seconds)
    return (cpu_seconds(pids) - c0) / seconds * 100


def main() -> None:
    args = window_args(__doc__)
    from playwright.sync_api import sync_playwright

    h264 = ensure_clip(CLIP, ROOT / ".cache" / "clips")
    h265 = ensure_clip(ClipSpec("bench-h265", codec="hevc", width=1280, height=720,
                                bitrate=2_000_000, gop=50), ROOT / ".cache" / "clips")
    mounts = {f"/c{i}": h264 for i in range(15)} | {"/c15": h265}
    with tempfile.TemporaryDirectory() as tmp, CameraServer(mounts) as server, \
            sync_playwright() as pw:
        work = Path(tmp)
        sip = ScriptedPlatform("udp")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = node(work, [server.url(f"/c{i}") for i in range(16)], sip, port)
        daemon = subprocess.Popen([sys.executable, "-m", "edge", "--log-level", "WARNING",
                                   "run", "--config", str(config)], cwd=ROOT)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            register(sip)
            time.sleep(15)  # every camera connected and recording, the GOP caches full
            for cam, label in ((channel(1), "H.264 720p"), (channel(16), "H.265 720p")):
                runs = [first_frame_ms(browser, base, cam) for _ in range(5)]
                times = [ms for ms, _ in runs]
                print(f"page open -> first picture, {label}: median {statistics.median(times):.0f} ms "
                      f"(min {min(times):.0f}, max {max(times):.0f}) via {runs[0][1]}")
            pids = appliance(daemon)
            reference = cpu_percent(pids, args.seconds)
            weight = page_weight(browser, base)
            page = signed_in(browser, base)
            cams = ",".join(channel(i) for i in range(1, 5))
            page.goto(f"{base}/live?layout=4&cams={cams}")
            page.wait_for_function("() => [...document.querySelectorAll('.cell video')]"
                                   ".every(v => v.currentTime > 1)", timeout=30000)
            pids = appliance(daemon)
            with_web = cpu_percent(pids, args.seconds)
            web_pid = next(p for p in pids if "\0_web\0" in Path(f"/proc/{p}/cmdline").read_text(
                errors="replace"))
            web_pss, whole_pss = pss_mb([web_pid]), pss_mb(pids)
            page.close()
            time.sleep(3)
            sinks = []
            for i in range(1, 5):
                sink = Sink()
                request, ok, _, _ = invite_when_online(sip, channel(i), offer("udp", sink.port),
                                                       f"gb-{i}")
                sip.send(in_dialog("ACK", request, ok, 1))
                sinks.append(sink)
            time.sleep(2)
            with_gb = cpu_percent(appliance(daemon), args.seconds)
            web_each, gb_each = (with_web - reference) / 4, (with_gb - reference) / 4
            print(f"appliance CPU, 16 cameras recording, {args.seconds:.0f}-s windows:")
            print(f"  recording only (reference)        : {reference:5.1f} % of one core")
            print(f"  + 4 browser live tiles (fMP4/MSE) : {with_web:5.1f} %  -> {web_each:.2f} % "
                  "per viewer")
            print(f"  + 4 GB/T 28181 live sessions (PS) : {with_gb:5.1f} %  -> {gb_each:.2f} % "
                  "per session (anchor)")
            print(f"  ratio web viewer / GB session     : {web_each / gb_each:.2f}"
                  if gb_each > 0 else "  GB sessions cost nothing measurable")
            print(f"PSS: web process {web_pss:.0f} MB; whole appliance (16 cameras, 4 viewers) "
                  f"{whole_pss:.0f} MB")
            print(f"live page weight before video (16-tile grid): {weight / 1024:.0f} KB")
        finally:
            browser.close()
            daemon.terminate()
            daemon.wait(30)
            sip.close()


if __name__ == "__main__":
    main()
