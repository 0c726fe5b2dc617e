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
from edge.gb28181.media.live import GbMedia
from edge.ingest.state import CameraState
from edge.log import also_to_file
from edge.record.index import Index
from edge.record.reconcile import reconcile
from edge.record.recorder import CameraRecorder
from edge.runner import survive
from edge.stream.hub import StreamHub
from edge.stream.tap import TapServer
from edge.supervision import Action, Watch

logger = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0
JOIN_TIMEOUT_S = 5.0
EXIT_WEDGED = 70  # a camera thread is wedged: the supervisor starts a fresh process


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
    hub = StreamHub({c.id: (c.sub_url, c.transport) for c in cfg.cameras if c.sub_url})
    media = GbMedia(hub, emit, cfg.data_dir)
    try:  # live view and detection in other processes read the hub through it
        TapServer(hub, cfg.data_dir, stop).start()
    except OSError as exc:
        logger.error("stream tap: cannot listen (%s); live view is off, recording goes on", exc)
    threading.Thread(target=_commands, args=(stop, media), name="parent", daemon=True).start()

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    also_to_file(cfg.data_dir, "recorder")
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
    threads: dict[str, CameraRecorder] = {}
    watches = {c.id: Watch(f"cam:{c.id}", CameraRecorder.stale_after_s) for c in cfg.cameras}
    wedged = False
    while not wedged:
        now = time.monotonic()
        for cam in cfg.cameras:
            thread = threads.get(cam.id)
            action, note = watches[cam.id].observe(
                now, thread is not None and thread.is_alive(),
                now - thread.last_beat if thread else 0.0, None,
                thread.crashed if thread else None)
            if note:
                logger.error("camera=%s recorder thread %s", cam.id, note)
            if action is Action.START:
                threads[cam.id] = CameraRecorder(cam, cfg.storage, cfg.data_dir, stop,
                                                 states[cam.id], hub)
                threads[cam.id].start()
            elif action is Action.KILL:  # a thread cannot be killed; a process can
                logger.error("camera=%s recorder thread is wedged; restarting the recorder "
                             "process", cam.id)
                wedged = True
        wall = time.time()
        try:
            emit({"ts": wall, "cameras": [{**s.to_dict(wall), "thread_restarts":
                                           watches[cid].restarts} for cid, s in states.items()],
                  "media_bytes": media.bytes_sent()})
        except BrokenPipeError:
            stop.set()
        if stop.wait(STATUS_INTERVAL_S):
            break
    stop.set()
    media.close_all()
    hub.close()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    return EXIT_WEDGED if wedged else 0


def _commands(stop: threading.Event, media: GbMedia) -> None:
    """Media commands from the supervisor, one JSON object per line; EOF means the
    supervisor died or closed the pipe."""
    for line in sys.stdin:
        with survive(logger, "recorder: command %.80r", line):
            try:
                cmd = json.loads(line)
            except ValueError:
                logger.warning("recorder: ignored a command line that is not JSON: %.80r", line)
                continue
            media.command(cmd)
    stop.set()
