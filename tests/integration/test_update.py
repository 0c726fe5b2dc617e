"""``edge update`` for real: venv slots built with pip from a wheelhouse, the daemon run
through the ``venv`` symlink (a stand-in restarts it: no systemd as PID 1 here), a good
update, one whose new version never comes up (rolled back, the old one records again), a
tampered bundle, an update SIGKILLed halfway through, one asked for over MQTT
(``cmd/update``: downloaded over HTTP, handed to the update service, whose path unit a
thread stands in for), and a power cut during an update's check (the boot's recovery)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.record.index import Index
from edge.sim.clips import filling
from edge.sim.server import CameraServer, free_port
from edge.update.bundle import Manifest, public_hex
from edge.update.install import Layout, Updater
from edge.update.request import read_state
from tests.bundles import bundle, edge_wheel
from tests.conftest import wait_for, write_config
from tests.integration.broker import Broker, Subscriber

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
CAM = "34020000001320000001"
SERVICE = ROOT / "tests" / "integration" / "service.py"
BASE = "edge/34020000001180000001"


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """Wheels of edge's dependencies, as the image's /opt/edge/wheels holds them (fetched
    once into .cache: pip's cache or PyPI)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    stamp = WHEELHOUSE / ".deps"
    with filling(WHEELHOUSE):
        if stamp.exists() and stamp.read_text() == "\n".join(deps):
            return WHEELHOUSE
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                        "--disable-pip-version-check", "-d", str(WHEELHOUSE), *deps], check=True)
        stamp.write_text("\n".join(deps))
    return WHEELHOUSE


def status(data: Path) -> dict:
    try:
        return json.loads((data / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def running(data: Path, version: str) -> bool:
    now = status(data)
    return (now.get("version") == version and time.time() - now.get("ts", 0) < 5
            and any(c.get("recording") for c in now.get("cameras", [])))


def update(config: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "update", str(path), "--config",
                           str(config)], capture_output=True, text=True, timeout=600)


class UpdateService:
    """What edge-update.path + edge-update.service do on the box: run ``edge update
    --request`` when the daemon leaves updates/request.json (systemd is not PID 1 here)."""

    def __init__(self, config: Path, data: Path) -> None:
        self.request = data / "updates" / "request.json"
        self.argv = [sys.executable, "-m", "edge", "update", "--request", "--config", str(config)]
        self.results: list[subprocess.CompletedProcess[str]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopping.wait(0.2):
            if self.request.exists():
                self.results.append(subprocess.run(self.argv, capture_output=True, text=True,
                                                   timeout=600, start_new_session=True))

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(620)


def serve_files(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_update_switch_rollback_tamper_kill_and_over_mqtt(
        tmp_path: Path, wheelhouse: Path, broker: Broker,
        cameras: Callable[..., CameraServer]) -> None:
    opt, rootfs, data = tmp_path / "opt", tmp_path / "rootfs", tmp_path / "data"
    opt.mkdir()
    (opt / "wheels").symlink_to(wheelhouse)
    key = Ed25519PrivateKey.generate()
    (tmp_path / "update.pub").write_text(public_hex(key))
    server = cameras({"/a": "h264"})
    config = tmp_path / "edge.toml"
    write_config(
        config, data, [(CAM, server.url("/a"))],
        extra=f'\n[web]\nlisten = "127.0.0.1"\nport = {free_port()}\n[update]\n'
              f'public_key = "{tmp_path / "update.pub"}"\nroot = "{opt}"\n'
              f'base_python = "{sys._base_executable}"\noverlay_root = "{rootfs}"\n'
              f'restart_command = "{sys.executable} {SERVICE} restart {opt} {config}"\n'
              "check_timeout = 45\n" + broker.config(allowed_commands=["update"]))
    from edge.config import load

    cfg = load(config)
    layout = Layout(opt)
    # the factory version, as the image builder lays it down
    factory = edge_wheel(tmp_path, "0.1.0").parent
    updater = Updater(cfg)
    layout.switch(updater._build_slot(Manifest("0.1.0", "", "", {}), factory))
    subprocess.run([sys.executable, str(SERVICE), "start", str(opt), str(config)], check=True)
    try:
        wait_for(lambda: running(data, "0.1.0"), 60, "the factory version recording")

        # a good update: switched, restarted, checked, kept
        res = update(config, bundle(tmp_path, key, "0.2.0"))
        assert res.returncode == 0, res.stderr
        assert layout.current() == opt / "slots" / "0.2.0" and running(data, "0.2.0")
        assert (rootfs / "etc" / "edge" / "motd").read_text() == "edge 0.2.0\n"
        assert not layout.rollback.exists() and not layout.trial.exists()  # checked: kept

        # a new version that exits at once (systemctl restart fails): rolled back at once,
        # the old one records again (the box was left restarting the broken one forever)
        res = update(config, bundle(tmp_path, key, "0.3.0", broken="exits"))
        assert res.returncode == 1 and "0.2.0" in res.stderr, res.stderr
        assert "the new version did not start" in res.stderr, res.stderr
        assert layout.current() == opt / "slots" / "0.2.0"
        assert not (opt / "slots" / "0.3.0").exists()  # never run again: its room back
        wait_for(lambda: running(data, "0.2.0"), 60, "0.2.0 recording again after the rollback")
        assert (rootfs / "etc" / "edge" / "motd").read_text() == "edge 0.2.0\n"

        # one byte changed: refused before anything is touched
        good = bundle(tmp_path, key, "0.4.0")
        tampered = tmp_path / "tampered.bundle"
        raw = bytearray(good.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        tampered.write_bytes(bytes(raw))
        res = update(config, tampered)
        assert res.returncode == 1 and "not installed" in res.stderr
        assert not (opt / "slots" / "0.4.0").exists()

        # SIGKILL while the new slot is being built: the old version runs on
        proc = subprocess.Popen([sys.executable, "-m", "edge", "update", str(good), "--config",
                                 str(config)], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: (opt / "slots" / "0.4.0" / ".incomplete").exists(), 120,
                 "the new slot being built")
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert layout.current() == opt / "slots" / "0.2.0"
        assert running(data, "0.2.0")
        res = update(config, tampered)  # the next attempt clears the half-built slot
        assert not (opt / "slots" / "0.4.0").exists()

        # over MQTT: the daemon downloads and checks it, the update service installs it
        files, url = serve_files(tmp_path)
        service = UpdateService(config, data)
        sub = Subscriber(broker, [f"{BASE}/#"], client_id="update-sub")
        try:
            sub.subscribed.wait(10)
            sub.client.publish(f"{BASE}/cmd/update", json.dumps(
                {"url": f"{url}/{tampered.name}"}).encode(), qos=1)
            wait_for(lambda: sub.on(f"{BASE}/cmd/update/reply"), 30, "the refusal")
            refusal = json.loads(sub.on(f"{BASE}/cmd/update/reply")[0])
            assert not refusal["ok"] and "does not match the manifest" in refusal["error"], refusal
            sub.client.publish(f"{BASE}/cmd/update", json.dumps(
                {"url": f"{url}/{good.name}", "sha256": sha256(good)}).encode(), qos=1)
            wait_for(lambda: len(sub.on(f"{BASE}/cmd/update/reply")) == 2, 30, "the answer")
            answer = json.loads(sub.on(f"{BASE}/cmd/update/reply")[1])
            assert answer == {"ok": True, "version": "0.4.0", "previous": "0.2.0",
                              "requested": True}, answer
            wait_for(lambda: service.results, 300, "the update service to finish")
            assert service.results[0].returncode == 0, service.results[0].stderr
            assert layout.current() == opt / "slots" / "0.4.0" and running(data, "0.4.0")
            assert not (data / "updates" / "request.json").exists()
            assert not list((data / "updates").glob("*.bundle"))  # installed: not kept twice
            wait_for(lambda: any(json.loads(e).get("type") == "update_installed"
                                 and json.loads(e).get("version") == "0.4.0"
                                 for e in sub.on(f"{BASE}/events")), 60,
                     "update_installed at the broker")
        finally:
            sub.close()
            service.stop()
            files.shutdown()
            files.server_close()

        # a power cut during the new version's check (one that starts but never comes up
        # healthy: the check is surely under way when the power goes): at the next boot the
        # recovery, run by
        # the old version as edge-update-recover.service runs it, puts the old one back
        proc = subprocess.Popen([sys.executable, "-m", "edge", "update",
                                 str(bundle(tmp_path, key, "0.5.0", broken="hangs")), "--config",
                                 str(config)], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: read_state(data).get("state") == "checking", 300, "the check under way")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        subprocess.run([sys.executable, str(SERVICE), "stop", str(opt), str(config)], check=True)
        assert layout.current() == opt / "slots" / "0.5.0" and layout.rollback.is_symlink()
        res = subprocess.run([str(layout.rollback / "bin" / "edge"), "_update-recover",
                              "--config", str(config)], capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0 and "0.4.0" in res.stdout, res.stderr
        assert layout.current() == opt / "slots" / "0.4.0"
        assert not (opt / "slots" / "0.5.0").exists()
        assert not layout.rollback.exists() and not layout.trial.exists()
        assert (rootfs / "etc" / "edge" / "motd").read_text() == "edge 0.4.0\n"
        state = read_state(data)
        assert state["state"] == "rolled_back" and state["version"] == "0.5.0", state
        assert "restarted during" in state["reason"], state
        subprocess.run([sys.executable, str(SERVICE), "start", str(opt), str(config)], check=True)
        wait_for(lambda: running(data, "0.4.0"), 60, "0.4.0 recording after the recovery")
        # a boot with no update on trial: nothing to do
        res = subprocess.run([sys.executable, "-m", "edge", "_update-recover", "--config",
                              str(config)], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0 and not res.stdout and layout.current() == opt / "slots" / "0.4.0"

        index = Index(data, readonly=True)
        actions = [(a[1], a[2]) for a in index.audit_log()]
        index.close()
        assert ("update", "update_installed") in actions
        assert ("update", "update_rolled_back") in actions
        assert ("update", "update_refused") in actions
        assert ("mqtt", "update_refused") in actions and ("mqtt", "update_requested") in actions
    finally:
        subprocess.run([sys.executable, str(SERVICE), "stop", str(opt), str(config)])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
