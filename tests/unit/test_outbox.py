"""The outbox on a real SQLite file: order, unique IDs, bounds."""

import json
from pathlib import Path

import pytest

from edge.mqtt.outbox import Outbox


def test_order_ids_and_rows_never_reused(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    first = box.put("events", {"seq": 0}, 1.0)
    [msg] = box.pending(0, 10)
    box.ack([msg.row])
    second = box.put("alarms", {"seq": 1}, 2.0)
    [again] = box.pending(0, 10)
    assert again.row > msg.row  # a cursor past the acknowledged row still sees it
    body = json.loads(again.payload)
    assert (again.kind, body["seq"], body["ts"]) == ("alarms", 1, 2.0)
    assert first != second and len(second) == 32
    with pytest.raises(ValueError, match="outbox kind"):
        box.put("health", {}, 0.0)
    box.close()


def test_bounds_drop_the_oldest_and_count(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    for seq in range(30):
        box.put("events", {"seq": seq, "pad": "x" * 100}, float(seq))
    assert box.trim(20, 10**9) == 10
    assert [json.loads(m.payload)["seq"] for m in box.pending(0, 100)] == list(range(10, 30))
    size = box.stats()["pending_bytes"]
    assert box.trim(100, size // 2) > 0 and box.stats()["pending_bytes"] <= size // 2
    stats = box.stats()
    assert stats["dropped_total"] == 30 - stats["pending"]
    assert box.trim(100, 10**9) == 0
    box.close()
