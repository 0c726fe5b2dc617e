"""The data budget's pure parts: billing months, the budget's levels, health deltas and
the health payload's encoding."""

import json
import zlib
from datetime import date

import pytest

from edge.health.delta import DELTA_SCHEMA, delta_message, diff, digest, merge_patch
from edge.mqtt.encoding import MAX_DECODED_BYTES, PayloadError, decode, encode
from edge.uplink.budget import MB, assess, billing_month, restricted


@pytest.mark.parametrize("today, day, first, next_first", [
    (date(2026, 12, 3), 1, date(2026, 12, 1), date(2027, 1, 1)),
    (date(2026, 12, 3), 5, date(2026, 11, 5), date(2026, 12, 5)),
    (date(2026, 12, 5), 5, date(2026, 12, 5), date(2027, 1, 5)),
    (date(2026, 1, 2), 28, date(2025, 12, 28), date(2026, 1, 28)),
    (date(2026, 2, 28), 28, date(2026, 2, 28), date(2026, 3, 28)),
])
def test_billing_month_starts_on_the_billing_day(today: date, day: int, first: date,
                                                 next_first: date) -> None:
    month = billing_month(today, day)
    assert (month.first, month.next_first) == (first, next_first)
    assert month.contains(today.isoformat())
    assert not month.contains(next_first.isoformat())


def test_budget_levels_and_the_restriction() -> None:
    month = billing_month(date(2026, 12, 10), 1)  # 31 days
    ok = assess(40 * MB, 100, month, 10.0)
    assert (ok.level, ok.percent) == ("ok", 40.0)
    assert ok.projected_bytes == 124 * MB  # 4 MB a day for 31 days
    assert assess(80 * MB, 100, month, 10.0).level == "warning"
    over = assess(100 * MB, 100, month, 10.0)
    assert over.level == "over" and restricted(over, "restrict")
    assert not restricted(over, "ignore") and not restricted(ok, "restrict")
    unmetered = assess(5_000 * MB, 0, month, 10.0)
    assert unmetered.level == "unmetered" and unmetered.percent is None
    assert not restricted(unmetered, "restrict")
    # the first minutes of a month are not its pace
    assert assess(1 * MB, 100, month, 0.001).projected_bytes == 31 * 24 * MB


def _health(online: bool = True, cpu: float = 3.0, fps: float = 25.0) -> dict:
    return {
        "schema": "edge.health/1", "ts": 1.0, "system": {"cpu_percent": cpu},
        "summary": {"cameras": 2, "online": 1 + online},
        "cameras": [{"id": "c1", "online": True, "recording": True, "fps": fps,
                     "last_error": None, "quality_faults": [], "below_legal_minimum": False},
                    {"id": "c2", "online": online, "recording": online, "fps": fps,
                     "last_error": None if online else "timeout", "quality_faults": [],
                     "below_legal_minimum": False}],
        "platforms": [{"id": "p1", "registered": True, "state": "registered",
                       "last_error": None}],
        "runners": [{"name": "sip", "state": "running"}],
        "disk": {"watermark": "ok", "free_bytes": 10},
        "uplink": {"budget": {"level": "ok", "restricted": False}, "modem": None},
        "outbox": {"dropped_total": 0, "pending": 3},
    }


def test_digest_ignores_what_moves_all_the_time() -> None:
    assert diff(digest(_health()), digest(_health(cpu=80.0, fps=12.5))) == {}


def test_a_camera_going_offline_is_a_small_patch() -> None:
    before, after = digest(_health()), digest(_health(online=False))
    patch = diff(before, after)
    assert patch == {"summary": {"online": 1},
                     "cameras": {"c2": {"online": False, "recording": False,
                                        "last_error": "timeout"}}}
    assert merge_patch(before, patch) == after
    message = delta_message(patch, 10.0, 1.0, 3)
    assert message["schema"] == DELTA_SCHEMA and message["seq"] == 3
    assert len(json.dumps(message, separators=(",", ":"))) < 250


def test_merge_patch_removes_what_is_gone() -> None:
    before = digest(_health())
    after = json.loads(json.dumps(before))
    del after["cameras"]["c2"]
    patch = diff(before, after)
    assert patch == {"cameras": {"c2": None}}
    assert merge_patch(before, patch) == after


def test_encoding_round_trips_and_compresses_only_when_smaller() -> None:
    doc = _health()
    packed, compressed = encode(doc, True)
    assert compressed and packed[:1] == b"x" and decode(packed) == doc
    plain, compressed = encode(doc, False)
    assert not compressed and plain[:1] == b"{" and decode(plain) == doc
    assert len(packed) < len(plain)
    tiny, compressed = encode({"a": 1}, True)
    assert not compressed and tiny == b'{"a":1}'


@pytest.mark.parametrize("payload", [
    b"x\x9c garbage", b"\xff\xfe", b"not json", b"[" * 100_000,
    zlib.compress(b"\xff" * 10), zlib.compress(b" " * (MAX_DECODED_BYTES + 10)),
])
def test_decode_refuses_with_its_own_error(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        decode(payload)
