"""Alerts (edge/alerts): the providers' documented formats and signatures, who is told
what and how often. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse

import pytest

from edge.alerts.formats import SMS_MAX_CHARS, Alert, push_payload, render, sms_text
from edge.alerts.mapping import classify
from edge.alerts.policy import Limiter
from edge.alerts.sms import SmsError, create_args, created_path
from edge.config import ConfigError, parse
from tests.unit.test_config import MINIMAL

ALERT = Alert("person", "34020000001320000001", "村口", 1796470000.0, "2026-12-05 20:00:00",
              "发现行人 person", node_name="测试村", link="http://192.168.1.5:8080/playback",
              picture=b"\xff\xd8jpeg\xff\xd9", more=3, late_s=300.0)
NOW = 1796470010.5


def test_dingtalk_signs_as_documented() -> None:
    [req] = render("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=T", "SEC",
                   ALERT, NOW)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.url).query)
    ts = query["timestamp"][0]
    assert ts == str(int(NOW * 1000)) and query["access_token"] == ["T"]
    expected = base64.b64encode(hmac.new(b"SEC", f"{ts}\nSEC".encode(), hashlib.sha256)
                                .digest()).decode()
    assert query["sign"] == [expected]
    body = json.loads(req.body)
    assert body["msgtype"] == "markdown" and "【行人】测试村 · 村口" in body["markdown"]["title"]
    text = body["markdown"]["text"]
    assert "另有 3 条" in text and "延迟 5 分钟" in text and "playback" in text


def test_feishu_signs_in_the_body_wecom_sends_the_picture() -> None:
    [req] = render("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/X", "SEC", ALERT, NOW)
    body = json.loads(req.body)
    key = f"{int(NOW)}\nSEC".encode()
    assert body["timestamp"] == str(int(NOW))
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "text" and "村口" in body["content"]["text"]
    text, image = render("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K", "",
                         ALERT, NOW)
    assert json.loads(text.body)["msgtype"] == "markdown"
    picture = json.loads(image.body)["image"]
    assert base64.b64decode(picture["base64"]) == ALERT.picture
    assert picture["md5"] == hashlib.md5(ALERT.picture).hexdigest()


def test_the_generic_webhook_is_one_signed_json_object() -> None:
    [req] = render("webhook", "https://ops.example/alerts", "K", ALERT, NOW)
    body = json.loads(req.body)
    assert body["schema"] == "edge.alert/1" and body["kind"] == "person"
    assert base64.b64decode(body["picture_jpeg_base64"]) == ALERT.picture
    ts = req.headers["X-Edge-Timestamp"]
    mac = hmac.new(b"K", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Edge-Signature"] == "sha256=" + mac


def test_a_burst_is_folded() -> None:
    limiter = Limiter(2)
    assert [limiter.admit("r", t) for t in (0, 10, 20, 30, 599, 610)] == [
        (True, 0), (True, 0), (False, 0), (False, 0), (False, 0), (True, 3)]
    assert limiter.admit("other", 30) == (True, 0)  # per rule


def test_which_events_are_which_alerts() -> None:
    raw = {**MINIMAL, "cameras": [{**MINIMAL["cameras"][0], "zones": [
        {"name": "河堤", "polygon": [[0, 0], [1, 0], [1, 1]]}]}]}
    cfg = parse(raw)
    cam = cfg.cameras[0].id
    assert classify("detection", cam, {"label": "person", "zones": ["河堤"]}, cfg)[0] == \
        "intrusion"
    assert classify("detection", cam, {"label": "car", "zones": []}, cfg) is None
    assert classify("camera_offline", cam, {"last_error": "timeout"}, cfg)[0] == \
        "camera_offline"
    for alarm, kind in (("quality_frozen", "picture_fault"), ("disk_failing", "disk"),
                        ("uplink_over_budget", "budget"),
                        ("retention_below_minimum", "retention")):
        assert classify("alarm_raised", cam, {"alarm": alarm, "message": "m"}, cfg)[0] == kind
    assert classify("alarm_raised", cam, {"alarm": "camera_clock", "message": "m"}, cfg) is None


@pytest.mark.parametrize("alert, problem", [
    ({"type": "sms"}, "needs numbers"),
    ({"type": "sms", "numbers": ["１３８００１３８０００"]}, "not a phone number"),
    ({"type": "sms", "numbers": ["138-0013"]}, "not a phone number"),
    ({"type": "webpush", "url": "http://example.com"}, "mailto: or https://"),
    ({"type": "pager", "url": "https://x"}, "must be one of"),
    ({"type": "dingtalk", "url": "http://oapi.dingtalk.com/robot"}, "must be https://"),
    ({"type": "webhook", "url": "http://example.com/x"}, "must be https://"),
    ({"type": "webhook", "url": "https://x", "quiet": ["25:00-26:00"]}, "HH:MM-HH:MM"),
    ({"type": "webhook", "url": "https://x", "quiet": ["08:00-08:00"]}, "empty range"),
    ({"type": "webhook", "url": "https://x", "events": ["fire"]}, "unknown"),
    ({"type": "webhook", "url": "https://x", "max_per_10min": 0}, "1..100"),
])
def test_bad_receivers_say_why(alert: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse({**MINIMAL, "alerts": [{"name": "值班", **alert}]})
    ok = parse({**MINIMAL, "alerts": [{"name": "局域网", "type": "webhook",
                                       "url": "http://192.168.1.20:9000/hook"}]})
    assert ok.alerts[0].url.startswith("http://192.168.1.20")


def test_text_messages_are_short_and_mmcli_gets_them_whole() -> None:
    text = sms_text(ALERT)
    assert text.startswith("【行人】测试村 · 村口 发现行人") and "另有 3 条" in text
    assert "http" not in text  # no link: the phone may have no data
    long = sms_text(Alert(**{**_fields(ALERT), "text": "很长" * 200}))
    assert len(long) == SMS_MAX_CHARS
    args = create_args("+8613800138000", "他说'快走', \"马上\"")
    assert args[:3] == ["mmcli", "-m", "any"]
    assert args[3] == ("--messaging-create-sms=text='他说’快走’, ”马上”',"
                       "number='+8613800138000'")
    assert created_path("Successfully created new SMS: /org/freedesktop/ModemManager1/SMS/21\n"
                        ) == "/org/freedesktop/ModemManager1/SMS/21"
    with pytest.raises(SmsError, match="made no message"):
        created_path("error: couldn't create new SMS: 'GDBus.Error: no modem'")


def test_a_push_is_a_notification_under_one_record() -> None:
    sent = json.loads(push_payload(ALERT))
    assert sent["title"] == "【行人】测试村 · 村口" and "另有 3 条" in sent["body"]
    assert sent["url"] == ALERT.link and "回放" not in sent["body"]
    assert sent["tag"] == "edge-person-34020000001320000001-1796470000"
    huge = push_payload(Alert(**{**_fields(ALERT), "text": "很长的说明" * 1000}))
    assert len(huge) <= 3000 and json.loads(huge)["title"] == sent["title"]


def _fields(alert: Alert) -> dict:
    return {name: getattr(alert, name) for name in Alert.__slots__}
