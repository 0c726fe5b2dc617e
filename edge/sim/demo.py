"""``edge demo``: the appliance on its embedded default, with simulated cameras.

Four cameras loop clips encoded here on first run (cached): two H.264 (one with
AAC audio), one H.265 and one H.264 with G.711A audio. A fifth loops a real street
(OpenCV's vtest.avi, people walking past parked cars) with detection on, so person
events with pictures come within a minute. A loudspeaker (ALSA's null device) stands
beside the village gate, for the 广播 page and the gate's push-to-talk. Data goes to a fresh
temporary directory unless ``--data-dir`` is given. No external service is needed
beyond the GStreamer RTSP server package that plays the cameras.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

from edge import app, config
from edge.command import edge_argv
from edge.record.index import Index
from edge.web.accounts import Accounts
from edge.web.address import url
from edge.sim.clips import ClipSpec, ensure_clip
from edge.sim.scenes import SceneUnavailable, vtest_avi
from edge.sim.server import CameraServer, gstreamer_missing

logger = logging.getLogger(__name__)

NODE_ID = "34020000001180000001"
DEMO_CAMERAS = [
    ("34020000001320000001", "村口东 village gate east", ClipSpec("demo-h264")),
    ("34020000001320000002", "村委会 village committee", ClipSpec("demo-h264-aac", audio="aac")),
    ("34020000001320000003", "小学门口 school gate", ClipSpec("demo-h265", codec="hevc")),
    ("34020000001320000004", "集市 market square", ClipSpec("demo-h264-g711a", audio="pcm_alaw")),
]
STREET = ("34020000001320000005", "村道 village road")
DEMO_SPEAKER = "34020000001370000001"  # beside the village gate: the 广播 page and its tile talk


def street_clip(cache: Path) -> ClipSpec:
    """vtest.avi whole (79 s at 10 fps), a keyframe a second: detection sees every one."""
    return ClipSpec("demo-street", width=640, height=480, fps=10, seconds=79, gop=10,
                    bitrate=1_000_000, source=str(vtest_avi(cache)))


def clip_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edge" / "clips"


def demo_config_text(node_dir: Path, server: CameraServer, web_port: int = 8080,
                     street: bool = False) -> str:
    lines = [
        "# 演示配置, 由 edge demo 生成 demo configuration written by `edge demo`",
        "[node]", f'id = "{NODE_ID}"', 'name = "演示节点 demo node"', f'data_dir = "{node_dir}"', "",
        "# 界面只对本机开放 the web UI on this machine only",
        "[web]", 'listen = "127.0.0.1"', f"port = {web_port}", "",
    ]
    for i, (cam_id, name, _spec) in enumerate(DEMO_CAMERAS):
        lines += ["[[cameras]]", f'id = "{cam_id}"', f'name = "{name}"',
                  f'url = "{server.url(f"/cam{i + 1}")}"', ""]
        if i == 0:
            lines.insert(-1, "key_area = true")
    lines += ["# 村口的喇叭 (演示: ALSA null, 声音不出; 改成 \"default\" 从本机声卡播出)",
              "# the gate's loudspeaker (demo: ALSA null, silent; \"default\" plays on this machine)",
              "[[speakers]]", f'id = "{DEMO_SPEAKER}"', 'name = "村口喇叭 gate loudspeaker"',
              'device = "null"', f'camera = "{DEMO_CAMERAS[0][0]}"', ""]
    if street:
        lines += ["# 人车检测 people and vehicles detected on this one", "[[cameras]]",
                  f'id = "{STREET[0]}"', f'name = "{STREET[1]}"',
                  f'url = "{server.url("/street")}"', "detect = true", ""]
    return "\n".join(lines)


def run_demo(data_dir: Path | None, log_level: str) -> int:
    missing = gstreamer_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    node_dir = data_dir or Path(tempfile.mkdtemp(prefix="edge-demo-"))
    node_dir.mkdir(parents=True, exist_ok=True)
    print("准备模拟摄像机片段 (首次约需半分钟) preparing simulated camera clips (first run ~30 s)")
    mounts = {f"/cam{i + 1}": ensure_clip(spec, clip_cache())
              for i, (_id, _name, spec) in enumerate(DEMO_CAMERAS)}
    try:
        mounts["/street"] = ensure_clip(street_clip(clip_cache()), clip_cache())
    except SceneUnavailable as exc:  # no apt here: the demo runs without detection
        print(f"第五路 (人车检测) 不可用 the fifth camera (detection) is left out: {exc}",
              file=sys.stderr)
    with CameraServer(mounts) as server:
        cfg_path = node_dir / "edge.toml"
        if not cfg_path.exists():
            cfg_path.write_text(demo_config_text(node_dir, server, street="/street" in mounts),
                                encoding="utf-8")
        else:  # a data dir given again keeps its settings; the cameras moved to a new port
            cfg_path.write_text(re.sub(r"rtsp://127\.0\.0\.1:[0-9]+/", server.url("/"),
                                       cfg_path.read_text(encoding="utf-8")), encoding="utf-8")
        cfg = config.load(cfg_path)
        password = _demo_admin(cfg)
        print(f"演示运行中, 数据目录 demo running, data in {node_dir}")
        print(f"网页界面 web UI: {url(cfg)}")
        if password:
            print(f"登录 sign in: 用户 user admin, 密码 password {password} (仅此一次显示 shown "
                  "only now)")
        print(f"查看录像 see recordings: edge recordings --config {cfg_path}")
        print("按 Ctrl+C 停止 press Ctrl+C to stop")
        code = app.run(cfg, cfg_path, log_level)
    if code == app.EXIT_RELOAD:
        # settings saved, a restart from the System page, MQTT reload-config: the demo starts
        # itself again on the same data dir, as `edge run` does (same PID), cameras and all
        print("重新加载配置 reloading the configuration", flush=True)
        os.execv(sys.executable, edge_argv("--log-level", log_level, "demo",
                                           "--data-dir", str(node_dir)))
    return code


def _demo_admin(cfg: config.EdgeConfig) -> str | None:
    """A demo box gets an admin with a random password (printed once): no default one."""
    index = Index(cfg.data_dir)
    try:
        Accounts.create_schema(index.db)
        accounts = Accounts(index.db)
        if accounts.count():
            return None
        password = "demo" + secrets.token_hex(4)
        accounts.add("admin", password, "admin", display="演示管理员 demo admin", now=time.time())
        index.audit("demo", "user_add", name="admin", role="admin")
        return password
    finally:
        index.close()
