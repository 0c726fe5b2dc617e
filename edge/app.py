"""The daemon (``edge run``): wiring, supervision, systemd notify.

The supervisor itself never imports PyAV. It runs the recorder process (all camera
threads) and the runner threads (retention, and sip and mqtt when configured), looks
at each every half second, restarts a dead one with back-off (edge/supervisor.py), and
pings the systemd watchdog only while every runner is alive and turning and the
recorder's status line is fresh.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from edge import __version__, systemd
from edge.command import edge_argv
from edge.config import EdgeConfig
from edge.events.observer import Observer
from edge.gb28181 import place
from edge.gb28181.model import Channel
from edge.gb28181.runner import SipRunner
from edge.log import also_to_file
from edge.onvif.clocks import CameraClocks, with_clocks
from edge.ptz.service import PtzService
from edge.ptz.steering import Steering, targets
from edge.record.index import Index
from edge.retention.manager import RetentionManager
from edge.retention.manager import stale_after as retention_stale_after
from edge.runner import survive, write_status
from edge.supervision import START_GRACE_S
from edge.supervisor import ChildProcess, Supervisor, ThreadSlot
from edge.uplink.runner import UplinkRunner
from edge.voice.speaker import Speakers
from edge.web.accounts import Accounts

logger = logging.getLogger(__name__)

SUPERVISE_INTERVAL_S = 0.5
STATUS_STALE_S = 10.0
CHILD_STALE_S = 30.0  # the web UI not answering its health URL this long: killed, restarted
STOP_TIMEOUT_S = 10.0
STATUS_FILE = "status.json"  # live state for `edge status` and other processes
STATUS_WRITE_S = 2.0
EXIT_RELOAD = 75  # edge run starts itself again (reload-config)


class RecorderProcess(ChildProcess):
    """The ``edge _recorder`` child and the last camera states it reported; it beats on its
    status line (every second), not on its media events."""

    def __init__(self, config_path: Path, log_level: str) -> None:
        super().__init__("recorder", edge_argv("--log-level", log_level, "_recorder",
                                               "--config", str(config_path)), stdin=True)
        self.cameras: dict[str, dict[str, object]] = {}
        self.media_bytes: dict[str, int] = {}  # per media session, from the status line
        self.on_media: Callable[[dict[str, Any]], None] = lambda event: None
        self.reported = False  # a status line came: recording works (systemd READY)

    def on_line(self, line: str) -> None:
        with survive(logger, "recorder status line %.80r", line):
            try:
                status = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("recorder printed a line that is not status JSON: %.80s", line)
                return
            if "media" in status:  # a live session's event, at once
                self.on_media(status["media"])
                return
            self.cameras = {c["id"]: c for c in status["cameras"]}
            self.media_bytes = status.get("media_bytes", {})
            self.last_beat = time.monotonic()
            self.reported = True

    def on_exit(self) -> None:
        self.on_media({"event": "recorder_gone"})  # its sessions died with it

    def command(self, cmd: dict[str, Any]) -> bool:
        """A media command to the recorder; False if it is not running."""
        return self.send(json.dumps(cmd))

    def channels(self, cfg: EdgeConfig,
                 has_ptz: Callable[[str], bool | None] = lambda _: None) -> list[Channel]:
        """The configured cameras with the live state the recorder last reported, whether
        ONVIF found PTZ on them, the days each is kept and whether a speaker is beside it;
        then the loudspeakers."""
        live = self.cameras
        beside = {s.camera for s in cfg.speakers if s.enabled}
        return [place.channel(c, bool(live.get(c.id, {}).get("online")),
                              bool(live.get(c.id, {}).get("recording")), has_ptz(c.id),
                              c.keep_days(cfg.retention), c.id in beside)
                for c in cfg.cameras] + [place.speaker(s) for s in cfg.speakers if s.enabled]

    def pids(self) -> list[int]:
        """The supervisor and the recorder, for the memory figure in health."""
        return [os.getpid()] + ([self.proc.pid] if self.alive() and self.proc else [])


def run(cfg: EdgeConfig, config_path: Path, log_level: str = "INFO",
        stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    reload = threading.Event()  # reload-config over MQTT, the web UI: stop, start again
    reboot = threading.Event()  # an allowed TeleBoot, the web UI: stop cleanly, then reboot

    def restart() -> None:
        reload.set()
        stop.set()

    def teleboot() -> None:
        reboot.set()
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGHUP, lambda *_: restart())
        signal.signal(signal.SIGUSR2, lambda *_: teleboot())
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    also_to_file(cfg.data_dir, "edge")
    started = time.time()
    index = Index(cfg.data_dir)  # create or migrate the schema before anyone uses it
    Accounts.create_schema(index.db)
    index.close()

    supervisor = Supervisor()
    recorder = RecorderProcess(config_path, log_level)
    recorder_watch = supervisor.add("recorder", recorder, STATUS_STALE_S, START_GRACE_S)
    retention = ThreadSlot(lambda: RetentionManager(cfg, stop))
    supervisor.add("retention", retention, retention_stale_after(cfg))

    # the domes (PTZ through ONVIF): what each camera offers is learnt in the background
    steering = Steering(targets(cfg), state_dir=cfg.data_dir / "ptz")
    steering.survey([c.id for c in cfg.cameras if c.onvif])
    clocks: ThreadSlot[CameraClocks] | None = None
    if any(c.onvif for c in cfg.cameras):  # the web UI's pad steers through these workers
        supervisor.add("ptz", ThreadSlot(lambda: PtzService(steering, cfg.data_dir, stop)),
                       PtzService.stale_after_s)
        clocks = ThreadSlot(lambda: CameraClocks(cfg, stop))  # 统一时间: the cameras' clocks
        supervisor.add("clocks", clocks, CameraClocks.stale_after_s)

    # the loudspeakers, shared by every broadcast source
    speakers = Speakers(cfg.speakers, cfg.data_dir if cfg.voice.record else None,
                        {c.id: c.url for c in cfg.cameras})
    if speakers.by_id:  # the room's push-to-talk and announcements, MQTT's cmd/broadcast
        from edge.voice.service import VoiceService  # numpy: only on a box with speakers

        supervisor.add("voice", ThreadSlot(lambda: VoiceService(
            speakers, cfg.data_dir, cfg.node.timezone, stop)), VoiceService.stale_after_s)

    def make_sip() -> SipRunner:
        if sip and sip.current:  # its media sessions lost their dialogs with it
            recorder.command({"op": "close_all", "id": "*"})
        runner = SipRunner(cfg, stop, lambda: recorder.channels(cfg, steering.has_ptz),
                           teleboot, recorder.command,
                           lambda: bool(uplink.current and uplink.current.restricted), steering,
                           speakers)
        recorder.on_media = runner.media_event  # session events from the recorder
        return runner

    # GB/T 28181 signalling only when an upper platform is configured
    sip = ThreadSlot(make_sip) if any(p.enabled for p in cfg.platforms) else None
    if sip:
        supervisor.add("sip", sip, SipRunner.stale_after_s)

    def live_status() -> dict[str, object]:
        runner = sip.current if sip else None
        status: dict[str, object] = {
            "node": cfg.node.id, "version": __version__, "ts": time.time(),
            "started_ts": started,
            "recorder_alive": recorder_watch.healthy,
            "recorder_restarts": recorder_watch.restarts,
            "cameras": with_clocks(list(recorder.cameras.values()),
                                   clocks.current.listing() if clocks and clocks.current else {}),
            "runners": supervisor.listing(),
            "speakers": [{"id": sid, "busy_with": spk.busy_with()}
                         for sid, spk in speakers.by_id.items()],
            "platforms": runner.status() if runner else [],
            "media_sessions": [{**s, "bytes": recorder.media_bytes.get(s["id"], 0)}
                               for s in (runner.sessions.listing() if runner else [])]}
        if uplink.current and (state := uplink.current.state()):
            status["uplink"] = state
        return status

    # bytes by purpose, the SIM's budget, the modem
    uplink: ThreadSlot[UplinkRunner] = ThreadSlot(lambda: UplinkRunner(cfg, stop, live_status))
    supervisor.add("uplink", uplink, UplinkRunner.stale_after_s)
    if any(a.enabled for a in cfg.alerts):  # events to the duty officers' phones
        from edge.alerts.runner import AlertRunner

        supervisor.add("alerts", ThreadSlot(lambda: AlertRunner(
            cfg, stop, lambda: bool(uplink.current and uplink.current.restricted))),
            AlertRunner.stale_after_s)

    children: list[ChildProcess] = []
    if cfg.web.enabled:  # the web UI and its thumbnails, each in its own process
        from edge.web.address import probe

        for name, command, check in (("web", "_web", lambda: probe(cfg)),
                                     ("thumbs", "_thumbs", None)):
            child = ChildProcess(name, edge_argv("--log-level", log_level, command,
                                                 "--config", str(config_path)), check)
            supervisor.add(name, child, CHILD_STALE_S, START_GRACE_S)
            children.append(child)
    # the model and the quality diagnosis in their own process
    if cfg.quality.enabled or (cfg.detect.enabled and any(c.detect for c in cfg.cameras)):
        child = ChildProcess("detect", edge_argv("--log-level", log_level, "_detect",
                                                 "--config", str(config_path)))
        supervisor.add("detect", child, CHILD_STALE_S, START_GRACE_S)
        children.append(child)
    # events and availability history, MQTT or not (the web UI lists them)
    supervisor.add("observer", ThreadSlot(lambda: Observer(cfg, stop, live_status)),
                   Observer.stale_after_s)
    mqtt: ThreadSlot[Any] | None = None
    if cfg.mqtt is not None:  # imported only when configured: paho is not needed otherwise
        from edge.mqtt.runner import MqttRunner

        def pids() -> list[int]:  # the whole appliance, for the memory figure in health
            alive = [c.proc.pid for c in children if c.alive() and c.proc]
            return recorder.pids() + alive

        mqtt = ThreadSlot(lambda: MqttRunner(cfg, config_path, stop, live_status, pids,
                                             restart))
        supervisor.add("mqtt", mqtt, MqttRunner.stale_after_s)
    logger.info("node=%s started: %d cameras, data in %s", cfg.node.id, len(cfg.cameras),
                cfg.data_dir)
    ready = False
    last_write = 0.0
    try:
        while True:
            supervisor.tick()
            if supervisor.healthy():  # a recorder still starting is healthy (its grace)
                if recorder.reported and not ready:
                    systemd.notify(READY)
                    ready = True
                systemd.notify("WATCHDOG=1")
            now = time.monotonic()
            if now - last_write >= STATUS_WRITE_S:
                status = live_status()
                if mqtt and mqtt.current:
                    status["mqtt"] = {"connected": mqtt.current.connected,
                                      "last_error": mqtt.current.last_error}
                write_status(cfg.data_dir, STATUS_FILE, status)
                last_write = now
            if stop.wait(SUPERVISE_INTERVAL_S):
                break
    finally:
        # a reload stops and starts again in the same PID: systemd must not take it for a
        # stop (it killed it 20 s later) nor starve its watchdog meanwhile (a slow box)
        systemd.notify(RELOADING if reload.is_set() else "STOPPING=1")
        recorder.stop(STOP_TIMEOUT_S)  # the recorder closes its segments cleanly
        stop.set()  # when the loop itself failed
        for child in children:
            child.stop(STOP_TIMEOUT_S)
        retention.join(STOP_TIMEOUT_S)
        if sip:
            sip.join(STOP_TIMEOUT_S)  # it unregisters (Expires: 0) first
        if mqtt:
            mqtt.join(STOP_TIMEOUT_S)  # it publishes a retained "stopped" first
        steering.close()
        (cfg.data_dir / STATUS_FILE).unlink(missing_ok=True)
        logger.info("node=%s stopped", cfg.node.id)
    if reboot.is_set():
        return run_reboot(cfg)
    return EXIT_RELOAD if reload.is_set() else 0


RELOADING = f"RELOADING=1\nWATCHDOG_USEC={int(START_GRACE_S * 1e6)}"
# ready again after a reload: the unit's own watchdog time back (systemd's environment)
READY = "READY=1" + (f"\nWATCHDOG_USEC={os.environ['WATCHDOG_USEC']}"
                     if os.environ.get("WATCHDOG_USEC", "").isascii()
                     and os.environ.get("WATCHDOG_USEC", "").isdigit() else "")


def run_reboot(cfg: EdgeConfig) -> int:
    command = shlex.split(cfg.node.reboot_command)
    logger.warning("node=%s rebooting: %s", cfg.node.id, cfg.node.reboot_command)
    try:
        return subprocess.run(command, check=False).returncode
    except OSError as exc:
        logger.error("node=%s reboot command %r failed: %s", cfg.node.id,
                     cfg.node.reboot_command, exc)
        return 1
