import pytest
from hypothesis import given, strategies as st

from edge.gb28181.manscdp import (
    ManscdpError, decode_body, encode_body, parse_body, render, render_list_packets,
)

NODE = "34020000001180000001"


def test_gb2312_query_with_chinese_is_decoded_by_its_declaration() -> None:
    xml = ('<?xml version="1.0" encoding="GB2312"?>\r\n<Query><CmdType>Catalog</CmdType>'
           f"<SN>17430</SN><DeviceID>{NODE}</DeviceID><Name>村口东</Name></Query>")
    msg = parse_body(xml.encode("gb2312"))
    assert (msg.root, msg.cmd_type, msg.sn, msg.device_id) == ("Query", "Catalog", 17430, NODE)
    assert msg.fields["Name"] == "村口东"


def test_undeclared_or_mislabelled_bodies_fall_back() -> None:
    utf8 = "<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>x</DeviceID></Notify>".encode()
    assert parse_body(utf8).cmd_type == "Keepalive"
    # declared UTF-8 but really GB18030 (seen in the field): still readable
    lying = '<?xml version="1.0" encoding="UTF-8"?><Query><CmdType>A</CmdType><SN>2</SN>' \
            "<DeviceID>x</DeviceID><Name>集市</Name></Query>"
    assert parse_body(lying.encode("gb18030")).fields["Name"] == "集市"


def test_rare_character_survives_gb2312_declared_reply() -> None:
    body = render("Response", "DeviceInfo", 5, NODE, [("DeviceName", "萳村监控室")])
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    assert parse_body(body).fields["DeviceName"] == "萳村监控室"
    assert "萳" in decode_body(body)


def test_keepalive_render_parse_and_escaping() -> None:
    body = render("Notify", "Keepalive", 43, NODE, [("Status", "OK"), ("Note", "a<b&c")])
    msg = parse_body(body)
    assert (msg.cmd_type, msg.sn, msg.fields["Status"], msg.fields["Note"]) == (
        "Keepalive", 43, "OK", "a<b&c")
    assert render("Notify", "Keepalive", 1, NODE, charset="UTF-8").startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>')
    with pytest.raises(ValueError):
        encode_body("<x/>", "latin-1")


def test_catalog_packets_keep_sn_and_sumnum_and_never_repeat_an_item() -> None:
    items = [[("DeviceID", f"340200000013200000{i:02d}"), ("Name", f"通道{i}"), ("Status", "ON")]
             for i in range(1, 8)]
    packets = render_list_packets("Response", "Catalog", 9, NODE, "DeviceList", items, 3)
    assert len(packets) == 3
    seen = []
    for packet, num in zip(packets, (3, 3, 1)):
        msg = parse_body(packet)
        assert (msg.sn, msg.fields["SumNum"]) == (9, "7")
        listing = msg.element.find("DeviceList")
        assert listing.get("Num") == str(num)
        seen += [item.findtext("DeviceID") for item in listing.findall("Item")]
    assert seen == [i[0][1] for i in items]


def test_catalog_packets_stay_within_a_datagram_and_lose_nothing() -> None:
    """Items with an Info block (2022 fields, place) are packed by size: every packet
    within the byte budget, every item once, in order; an item larger than the budget
    alone still goes, in a packet of its own."""
    info = [("PTZType", "1"), ("RoomType", "1"), ("StreamNumberList", "0/1"),
            ("DownloadSpeed", "1/2/4"), ("SVCSpaceSupportMode", "0"),
            ("SVCTimeSupportMode", "0"), ("RecordSaveDays", "90")]
    items = [[("DeviceID", f"340200000013200000{i:02d}"), ("Name", f"村口球机东侧{i}号"),
              ("Longitude", "117.283042"), ("Latitude", "31.861191"), ("Info", info)]
             for i in range(1, 10)]
    items.append([("DeviceID", "34020000001320000099"), ("Name", "长" * 800)])
    packets = render_list_packets("Response", "Catalog", 9, NODE, "DeviceList", items, 4,
                                  max_bytes=1300)
    assert all(len(p) <= 1300 for p in packets[:-1]) and len(packets[-1]) > 1300
    seen = [item.findtext("DeviceID") for p in packets
            for item in parse_body(p).element.find("DeviceList").findall("Item")]
    assert seen == [i[0][1] for i in items]
    assert all(parse_body(p).fields["SumNum"] == "10" for p in packets)


def test_empty_list_is_one_packet_with_zero() -> None:
    [packet] = render_list_packets("Response", "RecordInfo", 7, "c", "RecordList", [], 5)
    msg = parse_body(packet)
    assert msg.fields["SumNum"] == "0" and msg.element.find("RecordList").get("Num") == "0"


@pytest.mark.parametrize("data, message", [
    (b"<Query><SN>1</SN></Query>", "no CmdType"),
    (b"<Query><CmdType>Catalog</CmdType><SN>x</SN></Query>", "SN 'x' is not a number"),
    (b"<Hello><CmdType>A</CmdType><SN>1</SN></Hello>", "root <Hello>"),
    (b"<Query><CmdType>A</CmdType>", "not well-formed"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
     b"<Query><CmdType>&b;</CmdType><SN>1</SN></Query>", "refused"),
    (b"<Query>" + b"x" * 70_000 + b"</Query>", "exceeds"),
])
def test_bad_bodies_name_the_fault(data: bytes, message: str) -> None:
    with pytest.raises(ManscdpError, match=message):
        parse_body(data)


@given(st.binary(max_size=300))
def test_garbage_bodies_raise_only_manscdp_error(data: bytes) -> None:
    try:
        parse_body(data)
    except ManscdpError:
        pass
