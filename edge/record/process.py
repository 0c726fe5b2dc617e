"""The recorder process: reconcile, then one recording thread per camera.

Runs as a child of ``edge run`` (``python -m edge _recorder``) so that PyAV and the
camera threads live apart from the supervisor: if this process dies, even by SIGKILL
or an FFmpeg crash, the supervisor starts a new one within a second and recording
resumes. Every second it prints one JSON line of camera states on stdout; the
supervisor reads it for health and for the systemd watchdog. Live GB/T 28181 media is
sent from here too (it has the packets): commands arrive as JSON lines on stdin, events
leave with the status lines. It exits when its stdin closes (the supervisor is gone)
or on SIGTERM.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time

from typing import Any

from edge.config import EdgeConfig
from edge.gb28181.media.live import LiveHub
from edge.ingest.state import CameraState
from edge.record.index import Index
from edge.record.reconcile import reconcile
from edge.record.recorder import CameraRecorder

logger = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0
RESTART_DELAY_S = 1.0
JOIN_TIMEOUT_S = 5.0


_OUT = threading.Lock()


def emit(obj: dict[str, Any]) -> None:
    """One JSON line to the supervisor (status every second, media events at once)."""
    line = json.dumps(obj, ensure_ascii=False)
    with _OUT:
        print(line, flush=True)


def run_recorder(cfg: EdgeConfig) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    hub = LiveHub(emit, cfg.data_dir, {c.id: (c.sub_url, c.transport) for c in cfg.cameras
                                       if c.sub_url})
    threading.Thread(target=_commands, args=(stop, hub), name="parent", daemon=True).start()

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    index = Index(cfg.data_dir)
    report = reconcile(index, [c.id for c in cfg.cameras], time.time())
    index.close()
    for line in report.details:
        logger.info("reconcile: %s", line)
    if report.details:
        logger.warning("reconcile after unclean stop: %d segments repaired, %d orphans indexed, "
                       "%d rows and %d files removed", report.repaired, report.indexed,
                       report.removed_rows, report.removed_files)

    states = {c.id: CameraState(c.id) for c in cfg.cameras}
    threads = {c.id: CameraRecorder(c, cfg.storage, cfg.data_dir, stop, states[c.id], hub)
               for c in cfg.cameras}
    for thread in threads.values():
        thread.start()
    while not stop.wait(STATUS_INTERVAL_S):
        for cam in cfg.cameras:
            if not threads[cam.id].is_alive():
                # CameraRecorder catches every stream error; reaching here is a bug,
                # already logged by threading.excepthook. Keep the channel recording.
                logger.error("camera=%s recorder thread died; restarting", cam.id)
                stop.wait(RESTART_DELAY_S)
                threads[cam.id] = CameraRecorder(cam, cfg.storage, cfg.data_dir, stop,
                                                 states[cam.id], hub)
                threads[cam.id].start()
        now = time.time()
        try:
            emit({"ts": now, "cameras": [s.to_dict(now) for s in states.values()],
                  "media_bytes": hub.bytes_sent()})
        except BrokenPipeError:
            stop.set()
    hub.close_all()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    return 0


def _commands(stop: threading.Event, hub: LiveHub) -> None:
    """Media commands from the supervisor, one JSON object per line; EOF means the
    supervisor died or closed the pipe."""
    for line in sys.stdin:
        try:
            cmd = json.loads(line)
        except ValueError:
            logger.warning("recorder: ignored a command line that is not JSON: %.80r", line)
            continue
        hub.command(cmd)
    stop.set()
