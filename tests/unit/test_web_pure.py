"""Pure parts behind the web UI: the assessment sheet, BlazeFace's anchors and decoding,
accounts and their passwords, write-only URL passwords."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from edge.detect.blazeface import ANCHORS, SIZE, Box, decode, iou, suppress
from edge.health.availability import Availability
from edge.health.compliance import row, totals
from edge.record.coverage import Range
from edge.web.accounts import LOCK_AFTER, LOCK_S, AccountError, Accounts, check_password, \
    hash_password
from edge.web.views.settings import merge_url

DAY = 86_400.0


def test_a_month_row_counts_hours_gaps_and_order() -> None:
    recorded = [Range(0, 10 * 3600), Range(10 * 3600 + 30, 20 * 3600),
                Range(20 * 3600 + 600, 24 * 3600)]
    r = row("c1", "村口", True, Availability(0.99, DAY, 0.99), recorded, 0, DAY, 95.0, 90, 120.0)
    assert (r.recorded_h, r.observed_h, r.gaps) == (23.8, 24.0, 1)  # a 30-s hole is no gap
    assert r.in_order and r.days_ok
    short = row("c2", "小学", True, Availability(0.97, DAY, 0.97), recorded, 0, DAY, 95, 90, 120)
    cut = row("c3", "集市", False, Availability(1.0, DAY, 1.0), recorded, 0, DAY, 30.0, 60, 120.0)
    young = row("c4", "新装", False, Availability(1.0, DAY, 1.0), recorded, 0, DAY, 3.0, 60, 3.0)
    never = row("c5", "坏的", True, Availability(None, 0.0), [], 0, DAY, 0.0, 90, 120.0)
    # online all month, but its lens was covered for a day: online, not in working order
    covered = row("c6", "桥头", False, Availability(1.0, DAY, 0.96), recorded, 0, DAY, 95, 60, 120)
    assert not short.in_order and not cut.in_order and young.in_order and not covered.in_order
    assert never.in_order is None
    total = totals([r, short, cut, young, never])
    assert total.key_in_order == 0.5 and total.key_met is False  # r in order, short not
    assert total.all_online == pytest.approx((0.99 + 0.97 + 1 + 1) / 4)
    assert totals([r]).key_met is True and totals([]).key_in_order is None


def test_anchors_cover_the_picture_in_blazeface_order() -> None:
    assert ANCHORS.shape == (896, 2)
    assert tuple(ANCHORS[0]) == pytest.approx((1 / 32, 1 / 32))  # 16x16 grid, 2 per cell
    assert tuple(ANCHORS[512]) == pytest.approx((1 / 16, 1 / 16))  # then 8x8, 6 per cell
    assert ANCHORS.min() > 0 and ANCHORS.max() < 1


def test_decode_places_a_box_on_its_anchor_and_suppresses_doubles() -> None:
    regressors = np.zeros((1, 896, 16), np.float32)
    scores = np.full((1, 896, 1), -10.0, np.float32)
    for anchor in (600, 601):  # the two anchors of one 8x8 cell: one face, two answers
        regressors[0, anchor, :4] = [2.0, -4.0, 32.0, 40.0]  # centre shift, size (pixels)
        scores[0, anchor, 0] = 3.0
    [box] = decode(regressors, scores)
    ax, ay = ANCHORS[600]
    assert box.xmin == pytest.approx(ax + 2 / SIZE - 16 / SIZE, abs=1e-6)
    assert box.ymax == pytest.approx(ay - 4 / SIZE + 20 / SIZE, abs=1e-6)
    assert box.score == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert decode(regressors, np.full((1, 896, 1), 500.0, np.float32))  # no overflow
    assert iou(Box(0, 0, 1, 1, 1), Box(0.5, 0, 1.5, 1, 1)) == pytest.approx(1 / 3)
    assert len(suppress([Box(0, 0, 1, 1, 0.9), Box(0, 0, 1, 1, 0.8),
                         Box(2, 2, 3, 3, 0.7)])) == 2


def test_passwords_accounts_and_lockout() -> None:
    stored = hash_password("secret-123")
    assert stored.startswith("scrypt$") and check_password("secret-123", stored)
    assert not check_password("secret-124", stored) and not check_password("x", "garbage")
    db = sqlite3.connect(":memory:", isolation_level=None)
    Accounts.create_schema(db)
    accounts = Accounts(db)
    for name, password, why in (("A", "secret-123", "lowercase"), ("ok", "short1", "8"),
                                ("ok", "12345678", "mix"), ("x" * 40, "secret-123", "2-32")):
        with pytest.raises(AccountError, match=why):
            accounts.add(name, password, "viewer")
    user = accounts.add("zhang", "secret-123", "viewer", cameras=["c1"])
    assert user.sees("c1") and not user.sees("c2") and not user.may("export")
    with pytest.raises(AccountError, match="exists"):
        accounts.add("zhang", "secret-123", "viewer")
    for n in range(LOCK_AFTER):
        assert accounts.verify("zhang", "wrong-pass1", 100.0 + n)[1] == (
            "locked" if n == LOCK_AFTER - 1 else "wrong")
    assert accounts.verify("zhang", "secret-123", 110.0) == (None, "locked")
    assert accounts.verify("zhang", "secret-123", 110.0 + LOCK_S)[1] == "ok"
    before = accounts.get("zhang")
    accounts.set_password(user.id, "new-secret-9")
    assert accounts.get("zhang").session_gen != before.session_gen  # every session ends
    with pytest.raises(AccountError, match="admin"):  # the last admin cannot go
        admin = accounts.add("root1", "secret-123", "admin")
        accounts.update(admin.id, role="viewer", cameras=None, disabled=False, display="")


@pytest.mark.parametrize("submitted, original, expected", [
    ("rtsp://admin:***@10.0.0.5/x", "rtsp://admin:s3cret@10.0.0.5/x", "rtsp://admin:s3cret@10.0.0.5/x"),
    ("rtsp://admin:***@10.0.0.5/y", "rtsp://admin:s3cret@10.0.0.5/x", "rtsp://admin:s3cret@10.0.0.5/y"),
    ("rtsp://admin:***@10.0.0.5:554/y", "rtsp://admin:s3cret@10.0.0.5/x",
     "rtsp://admin:s3cret@10.0.0.5:554/y"),  # the default port, written out
    ("rtsp://admin:new@10.0.0.5/x", "rtsp://admin:s3cret@10.0.0.5/x", "rtsp://admin:new@10.0.0.5/x"),
    ("rtsp://admin:***@10.0.0.5/x", None, "rtsp://admin:***@10.0.0.5/x"),
])
def test_a_url_password_shown_as_stars_is_kept(submitted: str, original: str | None,
                                                expected: str) -> None:
    assert merge_url(submitted, original) == expected


@pytest.mark.parametrize("submitted", [
    "rtsp://admin:***@10.0.0.9/x", "rtsp://admin:***@10.0.0.5:8554/x",
    "rtsps://admin:***@10.0.0.5/x", "rtsp://admin:***@127.0.0.1:45554/x",
    "rtsp://admin:***@10.0.0.5:port/x", "rtsp://admin:***@10.0.0.5.evil.example/x"])
def test_a_saved_password_never_goes_to_another_address(submitted: str) -> None:
    """Issue 22, finding 3: only to the scheme, host and port it was saved with."""
    from edge.errors import ConfigError

    with pytest.raises(ConfigError, match="cameras\\[0\\].url: 已保存的密码只用于原摄像机地址"):
        merge_url(submitted, "rtsp://admin:s3cret@10.0.0.5/x", "cameras[0].url")


def test_csv_cells_that_a_spreadsheet_would_run_are_text() -> None:
    """Issue 22, finding 8: a camera named =HYPERLINK(...) is a name, not a formula."""
    import csv
    import io

    from edge.web.sheet import csv_text

    names = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx",
             "村口", "a=b"]
    text = csv_text([[n, -1.5, 3] for n in names])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert [r[0] for r in rows] == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2+3",
                                    "'@SUM(A1)", "'\tx", "'\rx", "村口", "a=b"]
    assert all(r[1:] == ["-1.5", "3"] for r in rows)  # numbers stay numbers


def test_a_lock_holds_for_its_name_and_address_only_and_costs_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22, finding 7: five wrong passwords from one address lock that name there, not
    the admin at the room's PC; an unknown name costs one scrypt check like a known one;
    the console can unlock."""
    import hashlib

    from edge.web import accounts as accounts_mod

    db = sqlite3.connect(":memory:", isolation_level=None)
    Accounts.create_schema(db)
    store = Accounts(db)
    store.add("admin", "secret-123", "admin")
    for n in range(LOCK_AFTER):
        store.verify("admin", "wrong-pass1", 100.0 + n, "10.0.0.66")
    assert store.verify("admin", "secret-123", 110.0, "10.0.0.66") == (None, "locked")
    assert store.verify("admin", "secret-123", 110.0, "192.168.1.10")[1] == "ok"  # the room's PC
    assert store.unlock("admin") == 1
    assert store.verify("admin", "secret-123", 111.0, "10.0.0.66")[1] == "ok"

    runs: list[int] = []
    real = hashlib.scrypt
    monkeypatch.setattr(accounts_mod.hashlib, "scrypt",
                        lambda *a, **k: (runs.append(1), real(*a, **k))[1])
    accounts_mod._dummy_hash()  # made once per process, before any sign-in is timed
    for name in ("admin", "nobody"):
        runs.clear()
        store.verify(name, "wrong-pass1", 200.0, "10.0.0.7")
        assert len(runs) == 1, name


def test_the_guard_limits_requests_being_read_per_address_and_cuts_late_ones() -> None:
    """edge/web/guard.py: what GuardedConnection applies (finding 1)."""
    from edge.web.guard import BODY_RATE, BODY_S, HEAD_S, PER_ADDRESS, Guard

    now = [0.0]
    guard = Guard(clock=lambda: now[0])
    cut: list[int] = []
    for key in range(PER_ADDRESS):
        assert guard.start(key, "10.0.0.66", lambda k=key: cut.append(k))
    assert not guard.start(99, "10.0.0.66", lambda: cut.append(99))  # one address, full
    assert guard.start(100, "192.168.1.10", lambda: cut.append(100))  # another is not
    guard.head_read(100, "192.168.1.10", 0)  # a GET read whole: no deadline any more
    guard.head_read(0, "10.0.0.66", 10 * BODY_RATE)  # a POST: ten seconds' worth of body
    assert guard.reading("10.0.0.66") == PER_ADDRESS - 1
    now[0] = HEAD_S + 1
    for close in guard.expired():
        close()
    assert sorted(cut) == list(range(1, PER_ADDRESS))  # the heads still unread
    now[0] = BODY_S + 10 + 1
    for close in guard.expired():
        close()
    assert 0 in cut and 100 not in cut
    for key in range(PER_ADDRESS):
        guard.end(key, "10.0.0.66", key == 0)
    assert guard.reading("10.0.0.66") == 0 and guard.start(7, "10.0.0.66", lambda: None)


def test_the_plan_keeps_distances_and_directions() -> None:
    """Two cameras 100 m apart on an east-west line (at 31.86° N one degree of longitude is
    94.6 km) and the box north of them: east is right, north is up, one scale for both
    axes, the wedge of a camera looking east opens to the right."""
    from edge.web.plan import plan_of

    lon = 117.283
    east = lon + 100 / 94_600
    plan = plan_of({"longitude": (lon + east) / 2, "latitude": 31.8615},
                   [{"name": "西 west", "longitude": lon, "latitude": 31.8610, "direction": 90},
                    {"name": "东 east", "longitude": east, "latitude": 31.8610},
                    {"name": "无 nowhere", "longitude": 117.0}])
    assert plan is not None
    west_mark, east_mark, box = plan.marks
    assert east_mark.x > west_mark.x and abs(east_mark.y - west_mark.y) < 0.5
    assert box.box and box.y < west_mark.y  # north is up
    metres_per_px = plan.scale_m / plan.scale_px
    assert 95 <= (east_mark.x - west_mark.x) * metres_per_px <= 105
    # 0.0005° of latitude is 55.6 m: the same scale north-south
    assert 50 <= (west_mark.y - box.y) * metres_per_px <= 61
    tip_x = float(west_mark.view.split("L")[1].split(",")[0])
    assert tip_x > west_mark.x and east_mark.view == ""
    assert plan.unplaced == ["无 nowhere"]
    assert plan_of({}, [{"name": "x"}]) is None
