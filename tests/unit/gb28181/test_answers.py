import pytest

from edge.gb28181.answers import (
    catalog, device_status, format_local_time, group_ids, handle, parse_local_time,
)
from edge.gb28181.manscdp import ManscdpMessage, parse_body, render
from edge.gb28181.model import Channel, Link, Node

NODE = Node("34020000001180000001", "某村监控室", "Asia/Shanghai")
CHANNELS = [Channel(f"340200000013200000{i:02d}", f"通道{i}", online=i != 3, recording=i != 3)
            for i in range(1, 7)]
T0 = parse_local_time("2026-11-22T08:00:00", "Asia/Shanghai")


def _items(packet: bytes, list_tag: str) -> list[dict[str, str]]:
    listing = parse_body(packet).element.find(list_tag)
    return [{child.tag: child.text or "" for child in item} for item in listing.findall("Item")]


def test_catalog_lists_every_channel_once_with_its_status() -> None:
    packets = catalog(NODE, 11, CHANNELS)
    assert len(packets) >= 2 and all(len(p) <= 1300 for p in packets)  # datagram-sized
    items = [i for p in packets for i in _items(p, "DeviceList")]
    assert [i["DeviceID"] for i in items] == [c.id for c in CHANNELS]
    assert {i["Status"] for i in items if i["DeviceID"].endswith("03")} == {"OFF"}
    assert all(i["ParentID"] == NODE.id and i["Name"] for i in items)
    assert {parse_body(p).fields["SumNum"] for p in packets} == {"6"}


def test_device_status_record_reflects_real_recording() -> None:
    off = parse_body(device_status(NODE, 1, CHANNELS, T0, NODE.id)).fields
    assert (off["Online"], off["Record"], off["DeviceTime"]) == ("ONLINE", "OFF", "2026-11-22T08:00:00")
    healthy = [Channel(c.id, c.name, True, True) for c in CHANNELS]
    assert parse_body(device_status(NODE, 1, healthy, T0, NODE.id)).fields["Record"] == "ON"


def test_device_status_of_one_channel_answers_for_that_channel() -> None:
    query = parse_body(render("Query", "DeviceStatus", 4, CHANNELS[2].id))
    [packet] = handle(query, NODE, CHANNELS, lambda *a: [], T0).bodies
    msg = parse_body(packet)
    assert (msg.device_id, msg.fields["Online"], msg.fields["Record"]) == (
        CHANNELS[2].id, "OFFLINE", "OFF")


def test_record_info_merges_clips_and_never_repeats_times() -> None:
    spans = [(T0 + i * 60, T0 + (i + 1) * 60) for i in range(30)]  # 30 one-minute files
    spans += [(T0 + 3600, T0 + 3660)]  # after a gap
    query = parse_body(render("Query", "RecordInfo", 7, CHANNELS[0].id, [
        ("StartTime", "2026-11-22T08:10:00"), ("EndTime", "2026-11-22T09:30:00"), ("Type", "all")]))
    packets = handle(query, NODE, CHANNELS, lambda ch, s, e: spans, T0).bodies
    [packet] = packets
    msg = parse_body(packet)
    assert (msg.sn, msg.device_id, msg.fields["SumNum"]) == (7, CHANNELS[0].id, "2")
    items = _items(packet, "RecordList")
    assert [(i["StartTime"], i["EndTime"]) for i in items] == [
        ("2026-11-22T08:10:00", "2026-11-22T08:30:00"), ("2026-11-22T09:00:00", "2026-11-22T09:01:00")]


def _error_reason(query: ManscdpMessage) -> str:
    outcome = handle(query, NODE, CHANNELS, lambda *a: [], T0)
    [packet] = outcome.bodies
    reply = parse_body(packet)
    assert (reply.root, reply.cmd_type, reply.sn, reply.fields["Result"]) == (
        "Response", query.cmd_type, query.sn, "ERROR")
    return outcome.note


def test_unknown_and_bad_queries_get_a_clean_error() -> None:
    assert "not supported" in _error_reason(parse_body(render("Query", "Foo2030", 1, NODE.id)))
    assert "not supported" in _error_reason(parse_body(render("Control", "Bar", 1, NODE.id)))
    unknown = parse_body(render("Query", "RecordInfo", 2, "34020000001320000099", [
        ("StartTime", "2026-11-22T08:00:00"), ("EndTime", "2026-11-22T09:00:00")]))
    assert "unknown device" in _error_reason(unknown)
    bad = parse_body(render("Query", "RecordInfo", 3, CHANNELS[0].id, [("StartTime", "today")]))
    assert "is not YYYY-MM-DDTHH:MM:SS" in _error_reason(bad)
    assert "unknown device" in _error_reason(parse_body(render("Query", "Catalog", 4, "x" * 20)))


def test_notifies_and_responses_from_the_platform_get_no_answer() -> None:
    for root in ("Notify", "Response"):
        msg = parse_body(render(root, "Alarm", 1, NODE.id, [("Result", "OK")]))
        assert handle(msg, NODE, CHANNELS, lambda *a: [], T0).bodies == []


def test_config_download_reports_basic_param_of_the_asking_platform() -> None:
    node = Node(NODE.id, NODE.name, NODE.timezone, link=Link(
        "34020000002000000001", "10.1.2.3", 5060, "3402000000", 3600, 60, 3))
    query = parse_body(render("Query", "ConfigDownload", 9, NODE.id,
                              [("ConfigType", "BasicParam/VideoParamOpt/SVACEncodeConfig")]))
    [packet] = handle(query, node, CHANNELS, lambda *a: [], T0).bodies
    reply = parse_body(packet)
    basic = {c.tag: c.text for c in reply.element.find("BasicParam")}
    assert basic["Name"] == NODE.name and basic["SIPServerID"] == "34020000002000000001"
    assert (basic["Expiration"], basic["HeartBeatInterval"], basic["HeartBeatCount"]) == (
        "3600", "60", "3")
    assert reply.element.find("VideoParamOpt/DownloadSpeed").text == "1/2/4"
    assert reply.element.find("SVACEncodeConfig") is None
    only_svac = parse_body(render("Query", "ConfigDownload", 10, NODE.id,
                                  [("ConfigType", "SVACDecodeConfig")]))
    assert "only BasicParam/VideoParamOpt" in _error_reason(only_svac)


def test_preset_query_of_a_fixed_camera_is_an_empty_list() -> None:
    query = parse_body(render("Query", "PresetQuery", 12, CHANNELS[0].id))
    [packet] = handle(query, NODE, CHANNELS, lambda *a: [], T0).bodies
    reply = parse_body(packet)
    assert (reply.device_id, reply.fields["SumNum"]) == (CHANNELS[0].id, "0")
    assert reply.element.find("PresetList").get("Num") == "0"


def test_lower_platform_catalog_is_a_tree_counted_in_sum_num() -> None:
    node = Node("34020000002000000009", "某村平台", "Asia/Shanghai", role="platform")
    group, org = group_ids(node.id)
    assert (group[10:13], org[10:13]) == ("215", "216")
    packets = catalog(node, 3, CHANNELS)
    items = [i for p in packets for i in _items(p, "DeviceList")]
    assert {parse_body(p).fields["SumNum"] for p in packets} == {str(len(CHANNELS) + 2)}
    by_id = {i["DeviceID"]: i for i in items}
    assert len(by_id) == len(items)
    assert by_id[group]["Parental"] == "1" and by_id[org]["ParentID"] == group
    assert all(by_id[c.id]["ParentID"] == org and by_id[c.id]["BusinessGroupID"] == group
               for c in CHANNELS)


def test_device_info_counts_channels() -> None:
    query = parse_body(render("Query", "DeviceInfo", 5, NODE.id))
    fields = parse_body(handle(query, NODE, CHANNELS, lambda *a: [], T0).bodies[0]).fields
    assert (fields["DeviceName"], fields["Channel"], fields["Result"]) == (NODE.name, "6", "OK")


@pytest.mark.parametrize("text", ["2026-11-22T08:00:00", "2026-11-22T08:00:00.000",
                                  "2026-11-22T00:00:00+00:00", "2026-11-22T8:0:0"])
def test_local_time_forms(text: str) -> None:
    assert parse_local_time(text, "Asia/Shanghai") == T0
    assert format_local_time(T0, "Asia/Shanghai") == "2026-11-22T08:00:00"
