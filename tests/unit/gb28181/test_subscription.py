"""SUBSCRIBE/NOTIFY dialogs and the notices they carry."""

import random

from edge.gb28181.manscdp import parse_body, render
from edge.gb28181.model import Channel, Node
from edge.gb28181.notices import catalog_changes, video_loss_alarm
from edge.gb28181.sip.message import SipRequest, parse
from edge.gb28181.sip.subscription import MAX_SUBSCRIPTIONS, Subscriptions

NODE = Node("34020000001180000001", "某村监控室", "Asia/Shanghai")
CAM = Channel("34020000001320000001", "村口", False, True)
OK_BODY = render("Response", "Catalog", 1, NODE.id, [("Result", "OK")])


def subscribe(event: str, expires: str, call_id: str = "sub-1", tag: str = "p1") -> SipRequest:
    return SipRequest("SUBSCRIBE", f"sip:{NODE.id}@3402000000", (
        ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1"),
        ("From", f"<sip:34020000002000000001@3402000000>;tag={tag}"),
        ("To", f"<sip:{NODE.id}@3402000000>"), ("Call-ID", call_id), ("CSeq", "1 SUBSCRIBE"),
        ("Contact", "<sip:34020000002000000001@10.0.0.1:5060>"), ("Event", event),
        ("Expires", expires)), render("Query", "Catalog", 1, NODE.id))


def subs() -> Subscriptions:
    return Subscriptions(f"sip:{NODE.id}@3402000000", "SIP/2.0/UDP 10.0.0.2:5060",
                         random.Random(1))


def test_subscribe_then_notify_in_the_dialog() -> None:
    table = subs()
    ok = table.subscribe(subscribe("Catalog;id=7", "600"), 100.0, OK_BODY)
    assert (ok.status, ok.header("Expires"), ok.body) == (200, "600", OK_BODY)
    our_tag = ok.header("To").split("tag=")[1]
    [n1] = table.notify("Catalog", catalog_changes(NODE, 5, [CAM])[0], 160.0)
    [n2] = table.notify("Catalog", b"x", 170.0)
    wire = parse(bytes(n1))  # what the platform receives
    assert wire.uri == "sip:34020000002000000001@10.0.0.1:5060"
    assert wire.header("Call-ID") == "sub-1" and wire.header("Event") == "Catalog;id=7"
    assert wire.header("To").endswith("tag=p1") and wire.header("From").endswith(f"tag={our_tag}")
    assert wire.header("Subscription-State") == "active;expires=540"
    assert (n1.header("CSeq"), n2.header("CSeq")) == ("1 NOTIFY", "2 NOTIFY")
    item = parse_body(wire.body).element.find("DeviceList/Item")
    assert (item.findtext("DeviceID"), item.findtext("Event")) == (CAM.id, "OFF")
    assert table.notify("Alarm", b"x", 170.0) == []


def test_refresh_unsubscribe_and_expiry() -> None:
    table = subs()
    table.subscribe(subscribe("presence", "60"), 0.0, OK_BODY)
    assert table.has("Alarm", 59.0) and not table.has("Catalog", 0.0)
    table.subscribe(subscribe("presence", "60"), 50.0, OK_BODY)  # refresh in the dialog
    assert len(table.active) == 1 and table.has("Alarm", 100.0)
    assert [s.call_id for s in table.expire(111.0)] == ["sub-1"] and not table.active
    table.subscribe(subscribe("Catalog", "60", "sub-2"), 0.0, OK_BODY)
    ended = table.subscribe(subscribe("Catalog", "0", "sub-2"), 1.0, OK_BODY)
    assert ended.status == 200 and ended.header("Expires") == "0" and not table.active


def test_bad_subscriptions_are_refused() -> None:
    table = subs()
    assert table.subscribe(subscribe("MobilePosition", "60"), 0.0, OK_BODY).status == 489
    assert table.subscribe(subscribe("Catalog", "soon"), 0.0, OK_BODY).status == 400
    for i in range(MAX_SUBSCRIPTIONS):
        assert table.subscribe(subscribe("Catalog", "60", f"c{i}"), 0.0, OK_BODY).status == 200
    assert table.subscribe(subscribe("Catalog", "60", "one-more"), 0.0, OK_BODY).status == 503


def test_video_loss_alarm_names_the_channel_and_type() -> None:
    msg = parse_body(video_loss_alarm(NODE, 8, CAM, 1_795_305_600.0))
    assert (msg.root, msg.cmd_type, msg.device_id) == ("Notify", "Alarm", CAM.id)
    assert (msg.fields["AlarmMethod"], msg.element.findtext("Info/AlarmType")) == ("2", "1")
    assert msg.fields["AlarmTime"] == "2026-11-22T08:00:00"
