"""The daemon's loudspeakers for the room and for scripts: one local socket
(edge/localsock.py) the web UI and the MQTT runner ask, and the announcement scheduler.

Requests (one JSON line; one JSON answer line):
- ``{"action": "status"}``: every speaker, who holds it, what is scheduled.
- ``{"action": "announce", "announcement": ID, "speakers": [...], "repeat": N, "user": U}``:
  play an announcement now (announcement priority: push-to-talk and the cascade take over).
- ``{"action": "talk", "speakers": [...], "user": U}``: push-to-talk; after the answer the
  client streams 16-bit mono PCM at 8 kHz until it closes (or is silent TALK_IDLE_S).
- ``{"action": "stop", "speakers": [...], "user": U}``: end the room's talk and the
  announcements on them (never the cascade's broadcast).
Every start and end is audited with who, which speakers, from when to when.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge import localsock
from edge.record.index import Index
from edge.voice.client import NAME, TALK_IDLE_S
from edge.voice.library import Library, LibraryError
from edge.voice.schedule import Schedule, due
from edge.voice.speaker import (
    PRIORITY_ANNOUNCEMENT, PRIORITY_CASCADE, PRIORITY_ROOM, RATE, Claim, Speaker, SpeakerError, Speakers,
)

logger = logging.getLogger(__name__)

MAX_REQUEST = 4096
CLIENTS = 8
CHUNK = RATE // 5  # announcements go out in 200-ms pieces
LEAD_S = 0.4  # and at most this far ahead of the clock: a sound card's buffer holds seconds,
# and what is in it plays before a takeover (the cascade's alarm) is heard
SCHEDULE_EVERY_S = 1.0
Audit = Callable[..., None]


class Playout:
    """One source to several speakers: a thread per claimed speaker, so a slow or failed
    card holds up nobody else."""

    def __init__(self, claims: list[tuple[Speaker, Claim]], what: str) -> None:
        self.queues: list[queue.Queue[np.ndarray | None]] = []
        self.threads = []
        for speaker, claim in claims:
            q: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=50)
            self.queues.append(q)
            thread = threading.Thread(target=self._play, args=(speaker, claim, q, what),
                                      daemon=True, name=f"voice-{speaker.cfg.id}")
            thread.start()
            self.threads.append(thread)
        self.claims = claims

    def feed(self, samples: np.ndarray) -> bool:
        """Whether any speaker still plays for this source."""
        alive = False
        for (_, claim), q in zip(self.claims, self.queues):
            if not claim.ended.is_set():
                alive = True
                try:
                    q.put(samples, timeout=2.0)
                except queue.Full:  # the card stopped taking samples
                    claim.end("音频设备无响应 the sound card stopped playing")
        return alive

    def close(self, reason: str) -> None:
        for (_, claim), q in zip(self.claims, self.queues):
            if not claim.ended.is_set():
                try:
                    q.put(None, timeout=2.0)
                except queue.Full:
                    claim.end(reason)
        for thread in self.threads:
            thread.join(30)

    @staticmethod
    def _play(speaker: Speaker, claim: Claim, q: queue.Queue[np.ndarray | None],
              what: str) -> None:
        reason = "播放完毕 played"
        try:
            while not claim.ended.is_set():
                try:
                    samples = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if samples is None:
                    break
                speaker.play(claim, samples)
        except SpeakerError as exc:
            reason = str(exc)
            logger.warning("speaker=%s %s ended: %s", speaker.cfg.id, what, exc)
        finally:
            speaker.release(claim, claim.reason or reason)


class VoiceService(localsock.LocalServer):
    stale_after_s = 30.0  # it beats between accepts (every half second)

    def __init__(self, speakers: Speakers, data_dir: Path, timezone: str,
                 stop: threading.Event, audit: Audit | None = None) -> None:
        super().__init__(NAME, data_dir, stop, CLIENTS)
        self.speakers = speakers
        self.library = Library(data_dir)
        self.timezone = timezone
        self.audit = audit or _index_audit(data_dir)
        self._looked = time.time()

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(TALK_IDLE_S)
        request = localsock.read_request(conn, MAX_REQUEST)
        if request.get("action") == "talk":
            self._talk(conn, request)
        else:
            _reply(conn, self.answer(request))

    def turn(self) -> None:
        self._scheduled(time.time())

    def answer(self, request: dict[str, object]) -> dict[str, Any]:
        action, user = request.get("action"), str(request.get("user", ""))[:64]
        if action == "status":
            return {"ok": True, "speakers": self.listing()}
        speakers = request.get("speakers")
        if not (isinstance(speakers, list) and all(isinstance(s, str) for s in speakers)):
            return {"ok": False, "error": "bad request: speakers"}
        if action == "stop":
            stopped = []
            for speaker in self._chosen(speakers):
                held = speaker.current
                if held and held.priority < PRIORITY_CASCADE and not held.ended.is_set():
                    held.end(f"停止 stopped by {user}")
                    stopped.append(speaker.cfg.id)
            self.audit(f"web:{user}" if user else "voice", "broadcast_stop", speakers=stopped)
            return {"ok": True, "stopped": stopped}
        if action == "announce":
            repeat = request.get("repeat", 1)
            if type(repeat) is not int or not 1 <= repeat <= 10:
                return {"ok": False, "error": "repeat must be 1..10"}
            return self.announce(str(request.get("announcement", "")), speakers, repeat,
                                 str(request.get("source") or f"web:{user}"))
        return {"ok": False, "error": f"unknown action {str(action)[:20]!r}"}

    def listing(self) -> list[dict[str, Any]]:
        return [{"id": s.cfg.id, "name": s.cfg.name, "busy_with": s.busy_with()}
                for s in self.speakers.by_id.values()]

    def _chosen(self, ids: list[str]) -> list[Speaker]:
        return [s for i in ids if (s := self.speakers.get(i)) is not None]

    def _claim(self, ids: list[str], source: str, priority: int
               ) -> tuple[list[tuple[Speaker, Claim]], dict[str, str]]:
        claims, refused = [], {}
        for speaker_id in dict.fromkeys(ids):
            speaker = self.speakers.get(speaker_id)
            if speaker is None:
                refused[speaker_id] = "没有这个扬声器 no such speaker"
            elif (claim := speaker.claim(source, priority)) is None:
                refused[speaker_id] = f"正在使用 busy with {speaker.busy_with()}"
            else:
                claims.append((speaker, claim))
        return claims, refused

    # -- announcements ------------------------------------------------------------------

    def announce(self, announcement: str, speakers: list[str], repeat: int,
                 source: str) -> dict[str, Any]:
        try:
            samples = self.library.samples(announcement)
        except (LibraryError, OSError) as exc:
            return {"ok": False, "error": str(exc)}
        claims, refused = self._claim(speakers, source, PRIORITY_ANNOUNCEMENT)
        playing = [s.cfg.id for s, _ in claims]
        self.audit(source, "announcement", announcement=announcement, speakers=playing,
                   refused=refused, repeat=repeat)
        if claims:
            threading.Thread(target=self._announce, args=(claims, samples, repeat, source,
                                                           announcement),
                             daemon=True, name="voice-announce").start()
        return {"ok": bool(claims), "speakers": playing, "refused": refused,
                **({} if claims else {"error": "没有可用的扬声器 no speaker could play it"})}

    def _announce(self, claims: list[tuple[Speaker, Claim]], samples: np.ndarray, repeat: int,
                  source: str, announcement: str) -> None:
        started, clock, sent = time.time(), time.monotonic(), 0
        playout = Playout(claims, f"announcement {announcement}")
        for _ in range(repeat):
            for i in range(0, samples.size, CHUNK):
                ahead = sent / RATE - (time.monotonic() - clock)
                if ahead > LEAD_S:
                    time.sleep(ahead - LEAD_S)
                if not playout.feed(samples[i:i + CHUNK]):
                    break
                sent += samples[i:i + CHUNK].size
        playout.close("played")
        self.audit(source, "announcement_end", announcement=announcement,
                   speakers=[s.cfg.id for s, _ in claims], started=started,
                   reasons={s.cfg.id: c.reason for s, c in claims})

    def _scheduled(self, now: float) -> None:
        since, self._looked = self._looked, now
        if now - since < SCHEDULE_EVERY_S / 2:
            self._looked = since
            return
        for schedule in self.library.schedules():
            if due(schedule, since, now, self.timezone):
                self._fire(schedule)

    def _fire(self, schedule: Schedule) -> None:
        result = self.announce(schedule.announcement, list(schedule.speakers), schedule.repeat,
                               f"schedule:{schedule.id}")
        logger.info("voice: schedule %s (%s %s) played %s, refused %s", schedule.id,
                    schedule.kind, schedule.at, result.get("speakers"), result.get("refused"))
        if schedule.kind == "once":
            self.library.delete_schedule(schedule.id)

    # -- push-to-talk -------------------------------------------------------------------

    def _talk(self, conn: socket.socket, request: dict[str, object]) -> None:
        speakers, user = request.get("speakers"), str(request.get("user", ""))[:64]
        if not (isinstance(speakers, list) and all(isinstance(s, str) for s in speakers)):
            _reply(conn, {"ok": False, "error": "bad request: speakers"})
            return
        source = f"web:{user}"
        claims, refused = self._claim(speakers, source, PRIORITY_ROOM)
        talking = [s.cfg.id for s, _ in claims]
        _reply(conn, {"ok": bool(claims), "speakers": talking, "refused": refused,
                      **({} if claims else {"error": "没有可用的扬声器 no speaker is free"})})
        if not claims:
            return
        started = time.time()
        self.audit(source, "talk", speakers=talking, refused=refused)
        playout = Playout(claims, f"talk by {user}")
        reason, pending = "监控室结束讲话 ended by the room", b""
        try:
            while True:
                try:
                    data = conn.recv(8192)
                except TimeoutError:
                    reason = f"no audio for {TALK_IDLE_S:.0f} s"
                    break
                if not data:
                    break
                pending += data
                whole = len(pending) // 2 * 2
                if whole and not playout.feed(np.frombuffer(pending[:whole], "<i2").copy()):
                    reason = "; ".join(c.reason for _, c in claims) or "扬声器已结束 speakers ended"
                    break
                pending = pending[whole:]
        finally:
            playout.close(reason)
            recordings = {s.cfg.id: c.recording for s, c in claims if c.recording}
            self.audit(source, "talk_end", speakers=talking, started=started, reason=reason,
                       **({"recordings": recordings} if recordings else {}))


def _reply(conn: socket.socket, body: dict[str, Any]) -> None:
    conn.sendall(json.dumps(body, ensure_ascii=False).encode() + b"\n")


def _index_audit(data_dir: Path) -> Audit:
    lock = threading.Lock()

    def audit(actor: str, action: str, **detail: object) -> None:
        with lock:
            index = Index(data_dir)
            try:
                index.audit(actor, action, **detail)
            finally:
                index.close()
    return audit
