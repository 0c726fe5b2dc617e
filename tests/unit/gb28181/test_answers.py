import pytest

from edge.gb28181.answers import (
    Channel, Node, answer, catalog, device_status, format_local_time, parse_local_time,
)
from edge.gb28181.manscdp import ManscdpError, parse_body, render

NODE = Node("34020000001180000001", "某村监控室", "Asia/Shanghai")
CHANNELS = [Channel(f"340200000013200000{i:02d}", f"通道{i}", online=i != 3, recording=i != 3)
            for i in range(1, 7)]
T0 = parse_local_time("2026-11-22T08:00:00", "Asia/Shanghai")


def _items(packet: bytes, list_tag: str) -> list[dict[str, str]]:
    listing = parse_body(packet).element.find(list_tag)
    return [{child.tag: child.text or "" for child in item} for item in listing.findall("Item")]


def test_catalog_lists_every_channel_once_with_its_status() -> None:
    packets = catalog(NODE, 11, CHANNELS)
    assert len(packets) == 2
    items = [i for p in packets for i in _items(p, "DeviceList")]
    assert [i["DeviceID"] for i in items] == [c.id for c in CHANNELS]
    assert {i["Status"] for i in items if i["DeviceID"].endswith("03")} == {"OFF"}
    assert all(i["ParentID"] == NODE.id and i["Name"] for i in items)
    assert {parse_body(p).fields["SumNum"] for p in packets} == {"6"}


def test_device_status_record_reflects_real_recording() -> None:
    off = parse_body(device_status(NODE, 1, CHANNELS, T0)).fields
    assert (off["Online"], off["Record"], off["DeviceTime"]) == ("ONLINE", "OFF", "2026-11-22T08:00:00")
    healthy = [Channel(c.id, c.name, True, True) for c in CHANNELS]
    assert parse_body(device_status(NODE, 1, healthy, T0)).fields["Record"] == "ON"


def test_record_info_merges_clips_and_never_repeats_times() -> None:
    spans = [(T0 + i * 60, T0 + (i + 1) * 60) for i in range(30)]  # 30 one-minute files
    spans += [(T0 + 3600, T0 + 3660)]  # after a gap
    query = parse_body(render("Query", "RecordInfo", 7, CHANNELS[0].id, [
        ("StartTime", "2026-11-22T08:10:00"), ("EndTime", "2026-11-22T09:30:00"), ("Type", "all")]))
    packets = answer(query, NODE, CHANNELS, lambda ch, s, e: spans, T0)
    [packet] = packets
    msg = parse_body(packet)
    assert (msg.sn, msg.device_id, msg.fields["SumNum"]) == (7, CHANNELS[0].id, "2")
    items = _items(packet, "RecordList")
    assert [(i["StartTime"], i["EndTime"]) for i in items] == [
        ("2026-11-22T08:10:00", "2026-11-22T08:30:00"), ("2026-11-22T09:00:00", "2026-11-22T09:01:00")]


def test_unknown_commands_get_no_answer_and_bad_queries_an_error() -> None:
    query = parse_body(render("Query", "PresetQuery2030", 1, NODE.id))
    assert answer(query, NODE, CHANNELS, lambda *a: [], T0) == []
    unknown = parse_body(render("Query", "RecordInfo", 2, "34020000001320000099", [
        ("StartTime", "2026-11-22T08:00:00"), ("EndTime", "2026-11-22T09:00:00")]))
    with pytest.raises(ManscdpError, match="unknown channel"):
        answer(unknown, NODE, CHANNELS, lambda *a: [], T0)
    bad = parse_body(render("Query", "RecordInfo", 3, CHANNELS[0].id, [("StartTime", "today")]))
    with pytest.raises(ManscdpError, match="is not YYYY-MM-DDTHH:MM:SS"):
        answer(bad, NODE, CHANNELS, lambda *a: [], T0)


def test_device_info_counts_channels() -> None:
    query = parse_body(render("Query", "DeviceInfo", 5, NODE.id))
    fields = parse_body(answer(query, NODE, CHANNELS, lambda *a: [], T0)[0]).fields
    assert (fields["DeviceName"], fields["Channel"], fields["Result"]) == (NODE.name, "6", "OK")


@pytest.mark.parametrize("text", ["2026-11-22T08:00:00", "2026-11-22T08:00:00.000",
                                  "2026-11-22T00:00:00+00:00", "2026-11-22T8:0:0"])
def test_local_time_forms(text: str) -> None:
    assert parse_local_time(text, "Asia/Shanghai") == T0
    assert format_local_time(T0, "Asia/Shanghai") == "2026-11-22T08:00:00"
