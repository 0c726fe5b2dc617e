"""Run inside the booted box (by the boot test, over SSH, with edge's own interpreter): the
index's integrity, every complete segment decoded by PyAV, one JSON line of what was found."""

import json
import sqlite3
import sys
import time
from pathlib import Path

import av

from edge.record.index import Index

data = Path(sys.argv[1])
decode = sys.argv[2:] == ["decode"]
db = sqlite3.connect(f"file:{data / 'edge.db'}?mode=ro", uri=True)
integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
db.close()
index = Index(data, readonly=True)
segments = list(index.segments())
bad, frames = [], 0
for segment in segments:
    if not segment.complete or not decode:
        continue
    try:
        with av.open(str(index.absolute(segment))) as container:
            frames += sum(1 for _ in container.decode(video=0))
    except (av.FFmpegError, OSError) as exc:
        bad.append(f"{segment.path}: {exc}")
print(json.dumps({
    "integrity": integrity, "segments": len(segments),
    "complete": sum(1 for s in segments if s.complete), "frames": frames, "undecodable": bad,
    "newest_end": max((s.end_ts for s in segments), default=0.0), "now": time.time()}))
