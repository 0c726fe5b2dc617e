"""Online rate: what counts as online, offline and not observed."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.health.availability import online_rate


def test_online_rate_counts_only_observed_time() -> None:
    sessions = [(0.0, 100.0), (200.0, 300.0)]  # the node was down from 100 to 200
    changes = [(0.0, True), (50.0, False), (200.0, True)]
    got = online_rate(sessions, changes, 0.0, 300.0)
    assert got.observed_s == 200.0 and got.online_rate == pytest.approx(150 / 200)
    window = online_rate(sessions, changes, 40.0, 250.0)  # clipped to the window
    assert window.observed_s == 110.0 and window.online_rate == pytest.approx((10 + 50) / 110)


def test_working_leaves_out_picture_faults_while_online() -> None:
    sessions = [(0.0, 100.0), (200.0, 300.0)]
    changes = [(0.0, True), (50.0, False), (200.0, True)]
    # covered 20..40 (online then), frozen 30..60 overlapping it and the offline time,
    # blurred from 280 and still open
    faults = [(20.0, 40.0), (30.0, 60.0), (280.0, None)]
    got = online_rate(sessions, changes, 0.0, 300.0, faults)
    assert got.online_rate == pytest.approx(150 / 200)
    assert got.working_rate == pytest.approx((150 - 30 - 20) / 200)
    assert online_rate(sessions, changes, 0.0, 300.0).working_rate == got.online_rate


def test_never_observed_is_unknown_not_zero() -> None:
    got = online_rate([], [], 0.0, 100.0)
    assert got.online_rate is None and got.observed_s == 0.0


@given(st.lists(st.tuples(st.floats(0, 1000), st.booleans()), max_size=30),
       st.floats(0, 1000), st.floats(0, 1000))
def test_rate_is_a_fraction_of_observed_time(raw: list[tuple[float, bool]], a: float,
                                             b: float) -> None:
    changes = sorted(raw)
    got = online_rate([(0.0, 1000.0)], changes, min(a, b), max(a, b))
    assert got.observed_s == pytest.approx(max(a, b) - min(a, b))
    if got.online_rate is not None:
        assert 0.0 <= got.online_rate <= 1.0 + 1e-9
        assert got.working_rate == pytest.approx(got.online_rate)


SESSION = {"channel": "34020000001320000001", "kind": "Play", "transport": "udp",
           "state": "playing", "bytes": 1_500_000, "started_ts": 5000.0}


def _platform(session: dict) -> dict:
    return {"id": "34020000002000000001", "registered": True, "state": "registered",
            "last_error": None, "last_keepalive_ok_ts": 5000.0, "clock_offset_s": 0.2,
            "live_sessions": 1, "playback_sessions": 0, "sessions": [session]}


def _health(**over: object) -> dict:
    import json
    from pathlib import Path

    from edge.health.availability import Availability
    from edge.health.payload import CameraFacts, build, camera_entry

    facts = CameraFacts("34020000001320000001", "村口", True, 90, 1000.0, False,
                        Availability(0.5, 3600.0), Availability(None, 0.0))
    live = {"online": True, "recording": True, "fps": 25.0, "bitrate_bps": 2_000_000,
            "last_packet_ts": 5000.0, "reconnects_last_hour": 1, "last_error": None}
    doc = build(node={"id": "34020000001180000001", "name": "n", "version": "0.1.0",
                      "gb_role": "device"},
                now=1000.0 + 3 * 86_400, local_time="2026-11-22T08:00:00", uptime_s=12.4,
                clock={"source": "system", "sip_offset_s": None, "ntp_synchronized": None},
                system={"cpu_percent": 3.0, "load": [0.1, 0.2, 0.3],
                        "memory": {"total_bytes": 2, "available_bytes": 1, "percent": 50.0,
                                   "edge_pss_bytes": None}, "temperatures_c": {}},
                disk={"path": "/d", "total_bytes": 10, "free_bytes": 5, "free_percent": 50.0,
                      "watermark": "ok"},
                cameras=[camera_entry(facts, live, 1000.0 + 3 * 86_400)],
                platforms=[_platform(SESSION)],
                uplink={"interface": None, "address": None, "bytes_sent": None,
                        "bytes_recv": None, "modem": None},
                outbox={"pending": 0, "pending_bytes": 0, "dropped_total": 0},
                runners=[{"name": "sip", "state": "running", "restarts": 1,
                          "last_error": "RuntimeError: injected", "since_ts": 1000.0}])
    doc.update(over)
    schema = json.loads((Path(__file__).resolve().parents[2] / "edge" / "health"
                         / "health.schema.json").read_text())
    return {"doc": doc, "schema": schema}


def test_health_document_matches_its_schema_and_the_schema_bites() -> None:
    import jsonschema

    made = _health()
    doc = made["doc"]
    jsonschema.validate(doc, made["schema"])
    [cam] = doc["cameras"]
    assert (cam["days_kept"], cam["online_rate_24h"], cam["online_rate_30d"]) == (3.0, 0.5, None)
    assert doc["summary"]["key_area_online"] == 1 and doc["uptime_s"] == 12
    for broken in ({"schema": "edge.health/2"}, {"cameras": [{"id": "x"}]},
                   {"summary": {**doc["summary"], "online_ratio": 1.5}}, {"extra": 1},
                   {"platforms": [_platform({**SESSION, "transport": "sctp"})]},
                   {"platforms": [_platform({**SESSION, "bytes": -1})]}):
        bad = _health(**broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad["doc"], bad["schema"])


MMCLI_K = """\
modem.dbus-path                                 : /org/freedesktop/ModemManager1/Modem/0
modem.generic.manufacturer                      : QUALCOMM INCORPORATED
modem.generic.model                             : EC25
modem.generic.equipment-identifier              : 861234567890123
modem.generic.state                             : connected
modem.generic.access-technologies.length        : 1
modem.generic.access-technologies.value[1]      : lte
modem.generic.signal-quality.value              : 67
modem.generic.signal-quality.recent             : yes
modem.3gpp.operator-code                        : 46000
modem.3gpp.operator-name                        : CHINA MOBILE
modem.3gpp.registration-state                   : home
"""


MMCLI_SIGNAL = """\
modem.signal.refresh.rate                       : 10
modem.signal.lte.rssi                           : --
modem.signal.lte.rsrq                           : -11.00
modem.signal.lte.rsrp                           : -97.00
modem.signal.lte.snr                            : 6.20
"""


def test_modem_facts_from_mmcli_key_value_output() -> None:
    from edge.health.system import parse_mmcli

    assert parse_mmcli(MMCLI_K) == {
        "state": "connected", "access_technology": "lte", "signal_quality_percent": 67,
        "operator": "CHINA MOBILE", "imei": "861234567890123", "registration": "home"}
    signal = parse_mmcli(MMCLI_K + MMCLI_SIGNAL)
    assert (signal["rsrp_dbm"], signal["rsrq_db"], signal["sinr_db"]) == (-97.0, -11.0, 6.2)
    assert "rssi_dbm" not in signal  # "--": not measured
    assert "rsrp_dbm" not in parse_mmcli(MMCLI_K + MMCLI_SIGNAL.replace("-97.00", "-９7"))
    searching = MMCLI_K.replace(": CHINA MOBILE", ": --").replace(": connected", ": searching")
    assert parse_mmcli(searching)["state"] == "searching"
    assert "operator" not in parse_mmcli(searching)  # "--" is unknown, not a name
    assert parse_mmcli("") is None and parse_mmcli("error: no modems were found\n") is None


def test_health_schema_takes_the_modem_facts() -> None:
    import jsonschema

    from edge.health.system import parse_mmcli

    made = _health()
    made["doc"]["uplink"]["modem"] = parse_mmcli(MMCLI_K + MMCLI_SIGNAL)
    jsonschema.validate(made["doc"], made["schema"])


def test_a_cameras_clock_and_place_in_health() -> None:
    """统一时空 in health: an ONVIF camera's clock offset (and why it is not corrected), a
    camera's configured place; a camera without either carries neither."""
    import jsonschema

    from edge.health.availability import Availability
    from edge.health.payload import CameraFacts, camera_entry

    made = _health()
    facts = CameraFacts("34020000001320000002", "村口球机", False, 60, None, False,
                        Availability(None, 0.0), Availability(None, 0.0),
                        place=(117.283042, 31.861191, 90.0))
    live = {"online": True, "recording": True, "clock_offset_s": 301.2,
            "clock_error": "the camera's clock is +301 s off and could not be corrected"}
    cam = camera_entry(facts, live, 5000.0)
    assert (cam["longitude"], cam["latitude"], cam["direction"]) == (117.283042, 31.861191, 90.0)
    assert cam["clock_offset_s"] == 301.2 and "could not be corrected" in cam["clock_error"]
    jsonschema.validate({**made["doc"], "cameras": [cam]}, made["schema"])
    plain = made["doc"]["cameras"][0]
    assert "clock_offset_s" not in plain and "longitude" not in plain
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**made["doc"], "cameras": [{**cam, "latitude": 91.0}]},
                            made["schema"])
