from pathlib import Path

import pytest

from edge.config import ConfigError, load, parse
from edge.log import redact

MINIMAL = {
    "node": {"id": "34020000001180000001", "data_dir": "/var/lib/edge"},
    "cameras": [{"id": "34020000001320000001", "name": "村口东",
                 "url": "rtsp://user:pass@192.168.1.64:554/Streaming/Channels/101"}],
}


def _with(**changes: object) -> dict:
    raw = {"node": dict(MINIMAL["node"]), "cameras": [dict(MINIMAL["cameras"][0])]}
    for path, value in changes.items():
        section, _, key = path.partition("__")
        target = raw["cameras"][0] if section == "camera" else raw.setdefault(section, {})
        target[key] = value
    return raw


def test_minimal_config_gets_defaults() -> None:
    cfg = parse(MINIMAL)
    cam = cfg.cameras[0]
    assert cam.transport == "tcp" and cam.record and not cam.key_area
    assert cam.keep_days(cfg.retention) == 60
    assert cfg.storage.segment_seconds == 60
    assert cfg.node.timezone == "Asia/Shanghai"


def test_key_area_keeps_90_days() -> None:
    cfg = parse(_with(camera__key_area=True))
    assert cfg.cameras[0].keep_days(cfg.retention) == 90


@pytest.mark.parametrize("raw, expected", [
    (_with(node__colour="red"), "node.colour: 未知配置项 unknown key"),
    (_with(camera__fps=25), "cameras[0].fps: 未知配置项 unknown key"),
    (_with(storage__segment_seconds="60"), "storage.segment_seconds: 类型错误 must be float"),
    (_with(camera__record="yes"), "cameras[0].record: 类型错误 must be bool"),
    (_with(camera__transport="http"), "cameras[0].transport: 取值应为 must be one of ['tcp', 'udp']"),
    (_with(node__id="3402000000118000001"), "node.id: 应为20位数字 must be 20 digits"),
    # full-width digits, as a Chinese input method types them: named, not "config OK"
    (_with(node__id="\uff13\uff14020000001180000001"),
     "node.id: 应为20位数字 must be 20 digits, got '３４020000001180000001' (含非 ASCII 数字"),
    (_with(node__id="34020000001320000001"), "node.id: 类型码(第11-13位)应为 118/200"),
    (_with(camera__id="34020000001180000009"), "cameras[0].id: 类型码(第11-13位)应为 131/132"),
    (_with(camera__url="http://cam/x"), "cameras[0].url: 应以 rtsp:// 开头 must start with rtsp://"),
    (_with(camera__url="rtsp://:99999/x"), "cameras[0].url: 地址无效 invalid URL"),
    (_with(camera__retention_days=30), "cameras[0].retention_days: 30 天低于法定最低 60 天"),
    (_with(node__timezone="Mars/Base"), "node.timezone: 未知时区 unknown time zone"),
    ({"cameras": []}, "node: 缺少 [node] 段"),
    ({**MINIMAL, "mqtt": {}}, "mqtt.host: 缺少必填项 required key missing"),
    (_with(camera__longitude=117.2), "cameras[0].longitude: 经纬度应同时填写"),
    (_with(camera__longitude=190.0, camera__latitude=31.8),
     "cameras[0].longitude: 190.0 超出范围 out of range ±180"),
    (_with(node__latitude=95.0, node__longitude=117.0), "node.latitude: 95.0 超出范围"),
    (_with(camera__direction=360.0), "cameras[0].direction: 360.0 应为 0–360"),
    (_with(camera__ptz_type=8), "cameras[0].ptz_type: 应为 0–7"),
    (_with(camera__resolution="6/４"), "cameras[0].resolution: 应为 \"/\" 分隔的数字代码"),
    (_with(camera__onvif="ftp://cam"), "cameras[0].onvif: 应为 http://主机[:端口]"),
    (_with(camera__onvif="http://admin:pw@cam"), "cameras[0].onvif: 用户名密码请填 onvif_user"),
    (_with(camera__home_preset=3, camera__home_seconds=60), "cameras[0].home_preset: 需要 onvif"),
])
def test_bad_configs_name_key_and_reason(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


def test_every_problem_is_reported_at_once() -> None:
    raw = _with(node__id="1", camera__url="ftp://x")
    raw["cameras"].append(dict(raw["cameras"][0]))
    with pytest.raises(ConfigError) as err:
        parse(raw)
    text = "\n".join(err.value.problems)
    assert "node.id" in text and "cameras[0].url" in text and "cameras[1].id: 摄像机编号重复" in text


def test_credentials_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        parse(_with(camera__url="rtsps://admin:S3cret@:0/x"))
    assert "S3cret" not in str(err.value)


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    gbk = tmp_path / "edge.toml"
    gbk.write_bytes('[node]\nid = "34020000001180000001"\nname = "村口"\n'.encode("gbk"))
    with pytest.raises(ConfigError) as err:
        load(gbk)
    assert err.value.problems == [f"{gbk}: 第 3 行不是 UTF-8 编码 line 3 is not UTF-8 (byte 43); "
                                  "请以 UTF-8 保存 save the file as UTF-8"]


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\nid = 1")
    with pytest.raises(ConfigError, match="TOML 语法错误 syntax error"):
        load(bad)
    with pytest.raises(ConfigError, match="无法读取 cannot read"):
        load(tmp_path / "missing.toml")


def test_example_config_is_valid() -> None:
    cfg = load(Path(__file__).resolve().parents[2] / "config" / "edge.example.toml")
    assert cfg.cameras
    assert cfg.time.camera_max_offset == 2.0 and cfg.time.camera_ntp == "auto"


@pytest.mark.parametrize("section, problem", [
    ({"camera_max_offset": 0.1}, "time.camera_max_offset"),
    ({"camera_check": 5}, "time.camera_check"),
    ({"camera_ntp": "ntp.example.com"}, "time.camera_ntp"),
    ({"camera_ntp": "１０.0.0.1"}, "time.camera_ntp"),  # full-width digits are not an address
])
def test_camera_time_settings_are_checked(section: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse({**MINIMAL, "time": section})
    assert parse({**MINIMAL, "time": {"camera_ntp": "192.168.1.2"}}).time.camera_ntp == "192.168.1.2"


def test_the_detection_model_is_int8_or_fp16() -> None:
    assert parse(MINIMAL).detect.model == "int8"
    assert parse({**MINIMAL, "detect": {"model": "fp16"}}).detect.model == "fp16"
    with pytest.raises(ConfigError, match="detect.model"):
        parse({**MINIMAL, "detect": {"model": "int4"}})


@pytest.mark.parametrize("text, expected", [
    ("rtsp://admin:pw@10.0.0.5/x", "rtsp://admin:***@10.0.0.5/x"),
    ("rtsp://admin@10.0.0.5/x", "rtsp://admin:***@10.0.0.5/x"),
    ("url rtsp://10.0.0.5:554/x ok", "url rtsp://10.0.0.5:554/x ok"),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def _platform(**fields: object) -> dict:
    return {**MINIMAL, "platforms": [{"id": "34020000002000000001", "host": "10.1.1.1", **fields}]}


def test_platform_defaults() -> None:
    cfg = parse(_platform(password="pw"))
    plat = cfg.platforms[0]
    assert (plat.sip_domain, plat.port, plat.transport, plat.expires) == ("3402000000", 5060, "udp", 3600)
    assert (plat.keepalive_interval, plat.keepalive_timeout_count, plat.charset) == (60, 3, "GB2312")


def test_platform_password_file(tmp_path: Path) -> None:
    from edge.config import platform_password

    secret = tmp_path / "sip.secret"
    secret.write_text("s3cret\n")
    cfg = parse(_platform(password_file=str(secret)))
    assert platform_password(cfg.platforms[0]) == "s3cret"


@pytest.mark.parametrize("fields, expected", [
    ({"id": "34020000001180000009"}, "platforms[0].id: 类型码(第11-13位)应为 200"),
    ({"domain": "34"}, "platforms[0].domain: 应为10位数字"),
    ({"transport": "sctp"}, "platforms[0].transport: 取值应为"),
    ({"password": "a", "password_file": "/etc/x"}, "platforms[0]: password 与 password_file"),
    ({"password_file": "/nonexistent/secret"}, "platforms[0].password_file: 无法读取"),
    ({"keepalive_interval": 1}, "platforms[0]: expires >= 60"),
    ({"charset": "latin1"}, "platforms[0].charset: 取值应为"),
])
def test_bad_platforms(fields: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(_platform(**fields))
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


def test_gb_role_must_match_the_node_id_type() -> None:
    with pytest.raises(ConfigError) as err:
        parse({**MINIMAL, "node": {**MINIMAL["node"], "gb_role": "platform"}})
    assert any("needs type code 200" in p for p in err.value.problems)
    platform_node = {**MINIMAL["node"], "id": "34020000002000000007", "gb_role": "platform"}
    assert parse({**MINIMAL, "node": platform_node}).node.gb_role == "platform"
    with pytest.raises(ConfigError, match="needs type code 118"):
        parse({**MINIMAL, "node": {**platform_node, "gb_role": "device"}})


def test_sip_time_source_names_exactly_one_platform() -> None:
    node = {**MINIMAL["node"], "time_source": "sip"}
    single = parse({**_platform(password="pw"), "node": node})
    assert single.time_platform() == single.platforms[0]  # the only platform is implied
    two = [{"id": f"3402000000200000000{i}", "host": "10.1.1.1"} for i in (1, 2)]
    with pytest.raises(ConfigError, match="names no platform"):
        parse({**MINIMAL, "node": node, "platforms": two})
    two[1]["time_source"] = True
    assert parse({**MINIMAL, "node": node, "platforms": two}).time_platform().id.endswith("2")
    two[0]["time_source"] = True
    with pytest.raises(ConfigError, match="only one platform may have time_source"):
        parse({**MINIMAL, "node": node, "platforms": two})
    assert parse({**MINIMAL, "platforms": two[1:]}).time_platform() is None  # system clock


def test_mqtt_is_off_without_its_section_and_has_defaults() -> None:
    assert parse(MINIMAL).mqtt is None
    mqtt = parse({**MINIMAL, "mqtt": {"host": "broker.local"}}).mqtt
    assert (mqtt.broker_port, mqtt.topic_prefix, mqtt.health_interval) == (1883, "edge", 60)
    assert mqtt.allowed_commands == ("ping", "health")
    tls = parse({**MINIMAL, "mqtt": {"host": "b", "tls": True,
                                     "allowed_commands": ["ping", "snapshot"]}}).mqtt
    assert tls.broker_port == 8883 and tls.allowed_commands == ("ping", "snapshot")


@pytest.mark.parametrize("fields, expected", [
    ({"allowed_commands": ["ping", "rm-rf"]}, "mqtt.allowed_commands: 未知命令 unknown ['rm-rf']"),
    ({"allowed_commands": "ping"}, "mqtt.allowed_commands: 类型错误 must be an array"),
    ({"allowed_commands": [1]}, "mqtt.allowed_commands: 类型错误 must be str"),
    ({"topic_prefix": "a/#"}, "mqtt.topic_prefix: 不能为空"),
    ({"tls": True, "ca_file": "/nonexistent/ca.pem"}, "mqtt.ca_file: 无法读取 cannot read"),
    ({"ca_file": "/etc/hostname"}, "mqtt.ca_file: 需要 tls = true"),
    ({"tls": True, "cert_file": "/etc/hostname"}, "mqtt: cert_file 与 key_file"),
    ({"protocol": "4"}, "mqtt.protocol: 取值应为"),
    ({"health_interval": 1}, "mqtt: health_interval >= 5"),
    ({"password": "a", "password_file": "/etc/hostname"}, "mqtt: password 与 password_file"),
])
def test_bad_mqtt(fields: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse({**MINIMAL, "mqtt": {"host": "broker", **fields}})
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


def test_onvif_address_and_credentials_default_to_the_cameras() -> None:
    from edge.config import onvif_credentials, onvif_endpoint

    cfg = parse(_with(camera__onvif="192.168.1.64", camera__url="rtsp://ad%40min:p%3Aw@h/x"))
    assert onvif_endpoint(cfg.cameras[0].onvif) == "http://192.168.1.64/onvif/device_service"
    assert onvif_endpoint("https://cam:8443/onvif/dev") == "https://cam:8443/onvif/dev"
    assert onvif_credentials(cfg.cameras[0]) == ("ad@min", "p:w")
    cfg = parse(_with(camera__onvif="cam:8000", camera__onvif_user="op",
                      camera__onvif_password="s"))
    assert onvif_credentials(cfg.cameras[0]) == ("op", "s")


def test_speakers_are_checked_like_cameras() -> None:
    speaker = {"id": "34020000001370000001", "name": "村委会大喇叭", "device": "plughw:1,0"}
    cfg = parse({**MINIMAL, "speakers": [speaker]})
    assert cfg.speakers[0].volume == 80 and cfg.speakers[0].device == "plughw:1,0"
    bad = [{**speaker, "id": "34020000001320000009"},  # a camera's type
           {**speaker, "id": "34020000001370000002", "device": "hw:1; rm -rf /"},
           {**speaker, "id": "34020000001370000003", "volume": 101},
           {**speaker, "id": MINIMAL["cameras"][0]["id"]},
           {**speaker, "id": "34020000001370000004", "backchannel": True}]  # whose?
    with pytest.raises(ConfigError) as err:
        parse({**MINIMAL, "speakers": bad})
    text = str(err.value)
    assert "speakers[0].id: 类型码" in text and "must be 137" in text
    assert "speakers[1].device" in text and "speakers[2].volume" in text
    assert "an id is used twice" in text
    assert "speakers[4].backchannel: 需要 camera" in text
    # a camera's own audio output
    own = parse({**MINIMAL, "speakers": [{**speaker, "backchannel": True,
                                          "camera": MINIMAL["cameras"][0]["id"]}]})
    assert own.speakers[0].backchannel and own.speakers[0].camera
