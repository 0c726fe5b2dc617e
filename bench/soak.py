"""Faults soaked: the appliance under repeated crashes, a flapping camera, a broker outage
and a full disk, with what each fault cost measured.

    .venv/bin/python bench/soak.py                  # 30 minutes, as the issue asks
    .venv/bin/python bench/soak.py --minutes 6      # everything scaled down

Set-up: 4 simulated cameras (H.264 640x360; the fourth flaps: down 15 s of every 30 s), a scripted upper platform (UDP, digest, answers
keepalives), a real Mosquitto, `edge run` on a small tmpfs data disk. Faults:
- 50 SIGKILLs of the whole daemon and 50 of the recorder process alone, at random moments
  (seeded) at least 8 s apart;
- Mosquitto stopped for a third of the run (10 minutes of 30), the daemon restarted
  cleanly in the middle of that outage;
- at the end, the data disk filled to 100 % by a foreign file, then freed.

Measured per fault kind: the hole each kill leaves in the footage of the three steady
cameras (last frame before to first frame after: the unsynced tail, the time dead and the
reconnection together), time from the kill until recording again, time to
re-register after a daemon kill, ``PRAGMA integrity_check`` right after every kill, every
closed segment decoded end to end, events produced vs received by a persistent-session
subscriber (0 lost), and how recording fared while the disk was full. Anchor: the same
counters over a quiet stretch of the same run (what "no fault" loses: nothing).
Frames are placed by their recorded wall time, which carries up to ~1 s of mapping
latency per camera connection.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from edge.record.index import Index  # noqa: E402
from edge.sim.clips import ClipSpec, ensure_clip  # noqa: E402
from edge.sim.server import CameraServer, free_port  # noqa: E402
from tests.conftest import FPS, Daemon, write_config  # noqa: E402
from tests.integration.broker import Broker, Subscriber  # noqa: E402
from tests.integration.scripted_platform import (  # noqa: E402
    NODE, PASSWORD, SERVER, AnsweringPlatform,
)

CAMS = [f"340200000013200000{i:02d}" for i in (1, 2, 3, 4)]
STEADY = CAMS[:3]
KILL_GAP_S = 8.0


@dataclass
class Kill:
    kind: str  # "daemon" or "recorder"
    at: float
    integrity: str = ""
    registered_after_s: float | None = None
    loss_s: float = 0.0
    resume_s: float = 0.0


@dataclass
class Log:
    kills: list[Kill] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def integrity(data: Path) -> str:
    db = sqlite3.connect(f"file:{data / 'edge.db'}?mode=ro", uri=True, timeout=30)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def frames(data: Path, channel: str) -> tuple[list[float], int, int]:
    """Wall time of every recorded frame (each decoded); segments; undecodable ones."""
    index = Index(data, readonly=True)
    segments = index.segments(channel)
    out, bad = [], 0
    for seg in segments:
        try:
            with av.open(str(index.absolute(seg))) as c:
                out += [seg.start_ts + float(f.time or 0) for f in c.decode(video=0)]
        except (av.FFmpegError, OSError):
            bad += seg.complete  # an open segment's tail may be cut: only closed ones count
    index.close()
    return sorted(out), len(segments), bad


def holes(found: list[float]) -> list[tuple[float, float]]:
    """(last frame before, first frame after) of each hole in the recorded wall time.

    By wall time, not by the burned-in counter: the simulated camera starts its clip
    again for a new connection (its only client reconnecting after a kill), so the
    counter proves continuity within a connection only (the tests check that)."""
    return [(t1, t2) for t1, t2 in zip(found, found[1:]) if t2 - t1 > 3 / FPS]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    total_s = args.minutes * 60
    kills_each = max(2, round(50 * args.minutes / 30))
    rng = random.Random(args.seed)
    log = Log()
    work = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    disk = work / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500m", "tmpfs", str(disk)], check=True)
    clip = ensure_clip(ClipSpec("t-h264"), ROOT / ".cache" / "clips")
    steady = CameraServer({f"/{i}": clip for i in range(3)}).start()
    flapper = CameraServer({"/f": clip})
    broker = Broker(work / "broker").start()
    platform = AnsweringPlatform()
    platform.start()
    data = disk / "data"
    config = write_config(
        work / "edge.toml", data,
        [(CAMS[i], steady.url(f"/{i}")) for i in range(3)] + [(CAMS[3], "rtsp://127.0.0.1:"
                                                                 f"{flapper.port}/f")],
        extra=f"sip_port = {free_port()}\n[storage]\nsegment_seconds = 30\nmin_free_gb = 0.05\n"
              f"min_free_percent = 2\n\n[[platforms]]\nid = \"{SERVER}\"\nhost = \"127.0.0.1\"\n"
              f"port = {platform.sip.port}\npassword = \"{PASSWORD}\"\nkeepalive_interval = 10\n"
              + broker.config())
    sub = Subscriber(broker, [f"edge/{NODE}/events", f"edge/{NODE}/alarms"],
                     client_id="soak-sub")
    daemon = Daemon(config).start()
    t0 = time.time()
    # the schedule, relative to t0: kills spread over the run, the broker outage in the middle
    outage = (0.35 * total_s, 0.35 * total_s + total_s / 3)
    fill_at = total_s - 100  # 60 s full, 30 s after, then the analysis
    slots = sorted(rng.uniform(60, fill_at - 20) for _ in range(2 * kills_each * 3))
    chosen: list[float] = []
    for slot in slots:
        if len(chosen) < 2 * kills_each and (not chosen or slot - chosen[-1] >= KILL_GAP_S) \
                and not outage[0] + total_s / 6 - 20 < slot < outage[0] + total_s / 6 + 20:
            chosen.append(slot)
    kinds = ["daemon"] * kills_each + ["recorder"] * kills_each
    rng.shuffle(kinds)
    schedule = sorted(zip(chosen, kinds))
    flapping_up = False
    next_flap = 30.0
    broker_down = restarted_mid_outage = False
    quiet = (50.0, 60.0)  # no fault here: the anchor stretch

    def at(s: float) -> float:
        return t0 + s

    try:
        while time.time() < at(fill_at):
            now = time.time() - t0
            if now >= next_flap:
                (flapper.start if not flapping_up else flapper.stop)()
                flapping_up = not flapping_up
                next_flap += 15
            if not broker_down and outage[0] <= now < outage[1]:
                broker.stop()
                broker_down = True
                log.notes.append(f"broker stopped at {now:.0f} s")
            if broker_down and not restarted_mid_outage and now >= (outage[0] + outage[1]) / 2:
                daemon.stop()
                daemon = Daemon(config).start()
                restarted_mid_outage = True
                log.notes.append(f"daemon restarted cleanly at {now:.0f} s (broker down)")
            if broker_down and now >= outage[1]:
                broker.start()
                broker_down = False
                log.notes.append(f"broker back at {now:.0f} s")
            if schedule and now >= schedule[0][0]:
                _, kind = schedule.pop(0)
                kill = Kill(kind, time.time())
                if kind == "daemon":
                    daemon.kill_all()
                    kill.integrity = integrity(data)
                    daemon = Daemon(config).start()
                else:
                    pid = daemon.recorder_pid()
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                    kill.integrity = integrity(data)
                log.kills.append(kill)
            time.sleep(0.2)

        # -- the kills, analysed before the disk is filled (space is then freed by
        # deleting the oldest footage)
        time.sleep(10)
        per_cam = {ch: frames(data, ch) for ch in STEADY}
        segments = sum(n for _, n, _ in per_cam.values())
        undecodable = sum(b for _, _, b in per_cam.values())
        cam_holes = {ch: holes(f) for ch, (f, _, _) in per_cam.items()}
        for kill in log.kills:
            # the hole that holds the kill; wall times carry up to ~1 s of mapping
            # latency per connection (ingest/timeline.py), hence the margin
            near = [(a, b) for ch in STEADY for a, b in cam_holes[ch]
                    if a - 1.5 <= kill.at <= b]
            kill.loss_s = max((b - a for a, b in near), default=0.0)
            kill.resume_s = max((b - kill.at for _, b in near), default=0.0)
            if kill.kind == "daemon":
                after = [r for r in platform.registrations if r > kill.at]
                kill.registered_after_s = after[0] - kill.at if after else None
        (work / "kills.json").write_text(json.dumps({
            "kills": [vars(k) for k in log.kills],
            "holes": {ch: cam_holes[ch] for ch in STEADY}}, indent=1))
        quiet_loss = sum(b - a for ch in STEADY for a, b in cam_holes[ch]
                         if at(quiet[0]) <= a <= at(quiet[1]))

        # -- the disk filled to 100 % by a foreign file, then freed
        filler = disk / "filler"
        fill_started = time.time()
        with filler.open("wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        full_free = os.statvfs(disk).f_bavail
        time.sleep(60)
        filler.unlink()
        time.sleep(30)
        status = json.loads((data / "status.json").read_text())
        recording_after_full = sum(c["recording"] for c in status["cameras"][:3])
        after_fill = {ch: frames(data, ch)[0] for ch in STEADY}
        fill_holes = [(a, b) for ch in STEADY for a, b in holes(after_fill[ch])
                      if a >= fill_started - 2]
        daemon.stop()
        final_integrity = integrity(data)
        time.sleep(3)
        db = sqlite3.connect(f"file:{data / 'edge.db'}?mode=ro", uri=True)
        produced = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        dropped = db.execute("SELECT value FROM counters WHERE name = 'outbox_dropped'"
                             ).fetchone()
        pending = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        db.close()
        received = {json.loads(p)["id"] for t in ("events", "alarms")
                    for p in sub.on(f"edge/{NODE}/{t}")}
    finally:
        sub.close()
        daemon.stop()
        platform.close()
        steady.stop()
        flapper.stop()
        broker.close()
        subprocess.run(["umount", "--lazy", str(disk)], check=False)

    produced_n = produced[0] if produced else 0
    lost = produced_n - len(received) - (dropped[0] if dropped else 0) - pending
    print(f"soak: {args.minutes:.0f} min, {len(log.kills)} kills "
          f"({sum(k.kind == 'daemon' for k in log.kills)} daemon, "
          f"{sum(k.kind == 'recorder' for k in log.kills)} recorder); " + "; ".join(log.notes))
    print("| fault | count | hole in the footage per kill (median / p90 / max) | recording again "
          "after (median / max) | re-register (median / max) | integrity_check |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in ("daemon", "recorder"):
        ks = [k for k in log.kills if k.kind == kind]
        losses, resumes = [k.loss_s for k in ks], [k.resume_s for k in ks]
        regs = [k.registered_after_s for k in ks if k.registered_after_s is not None]
        ok = sum(k.integrity == "ok" for k in ks)
        reg = f"{pct(regs, 0.5):.1f} / {max(regs):.1f} s" if regs else "—"
        print(f"| SIGKILL {kind} | {len(ks)} | {pct(losses, 0.5):.2f} / {pct(losses, 0.9):.2f} / "
              f"{max(losses, default=0):.2f} s | {pct(resumes, 0.5):.1f} / "
              f"{max(resumes, default=0):.1f} s | {reg} | {ok}/{len(ks)} ok |")
    print(f"anchor: no fault ({quiet[1] - quiet[0]:.0f} s quiet stretch, 3 cameras): "
          f"{quiet_loss:.2f} s in holes")
    print(f"segments decoded: {segments}, closed ones undecodable: {undecodable}")
    print(f"events/alarms produced {produced_n}, received {len(received)}, dropped by the bound "
          f"{dropped[0] if dropped else 0}, still pending {pending}: lost {lost}")
    print(f"disk full: free blocks at the peak {full_free}; holes while full "
          f"{sum(b - a for a, b in fill_holes):.1f} s over 3 cameras; recording 30 s after "
          f"freeing: {recording_after_full}/3; final integrity_check: {final_integrity}")
    print(f"work dir (logs): {work}")
    return 0 if lost == 0 and undecodable == 0 and final_integrity == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
