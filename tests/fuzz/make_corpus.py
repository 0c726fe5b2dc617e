"""Write the fuzz seed corpus (tests/fuzz/corpus/<target>/): real messages in the shapes
WVP, Hikvision and sipp send, our own REGISTER/keepalive as the state machine makes them,
PS and RTP from our muxer over frames really encoded here, a real fragmented MP4.
Run once, commit the files: ``python -m tests.fuzz.make_corpus``."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import av
import numpy as np

from edge.gb28181.media.ps import Streams, audio_frame, video_frame
from edge.gb28181.media.rtp import Packetizer, frame_tcp
from edge.gb28181.sip.registration import Registration, Send
from edge.ingest.media import Frame, StreamInfo
from edge.mqtt.encoding import encode as encode_payload
from edge.stream.tap import encode, encode_frame
from edge.sim.clips import ClipSpec, _encode_video
from tests.fuzz.targets import CORPUS, NODE_ID, SERVER_ID, UPPER
from tests.unit.gb28181.test_mic import aac_frames
from tests.unit.test_onvif_rtsp import GSTREAMER, HIKVISION

CHANNEL = "34020000001320000001"
CRLF = "\r\n"


def sip(*lines: str, body: str = "") -> bytes:
    head = [ln for ln in lines] + [f"Content-Length: {len(body.encode('gb18030'))}"]
    return (CRLF.join(head) + CRLF + CRLF + body).encode("gb18030")


def request_headers(method: str, cseq: int, to: str = CHANNEL) -> list[str]:
    return [f"Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK{cseq}4521",
            f"From: <sip:{SERVER_ID}@3402000000>;tag=50{cseq}8",
            f"To: <sip:{to}@3402000000>", f"Call-ID: 7f3e{cseq}@192.168.1.10",
            f"CSeq: {cseq} {method}", "Max-Forwards: 70", "User-Agent: WVP-Pro v2.7.3"]


def manscdp(root: str, cmd: str, inner: str = "", device: str = NODE_ID, sn: int = 17) -> str:
    return (f'<?xml version="1.0" encoding="GB2312"?>\r\n<{root}>\r\n<CmdType>{cmd}</CmdType>'
            f"\r\n<SN>{sn}</SN>\r\n<DeviceID>{device}</DeviceID>\r\n{inner}</{root}>\r\n")


MANSCDP = {
    "catalog": manscdp("Query", "Catalog"),
    "device_info": manscdp("Query", "DeviceInfo"),
    "device_status": manscdp("Query", "DeviceStatus", device=CHANNEL),
    "record_info": manscdp("Query", "RecordInfo", "<StartTime>2026-11-22T08:00:00</StartTime>\r\n"
                           "<EndTime>2026-11-22T09:00:00</EndTime>\r\n<Type>all</Type>\r\n"
                           "<Secrecy>0</Secrecy>\r\n", CHANNEL),
    "config_download": manscdp("Query", "ConfigDownload",
                               "<ConfigType>BasicParam/VideoParamOpt</ConfigType>\r\n"),
    "preset": manscdp("Query", "PresetQuery", device=CHANNEL),
    "record_cmd": manscdp("Control", "DeviceControl", "<RecordCmd>Record</RecordCmd>\r\n", CHANNEL),
    "guard_cmd": manscdp("Control", "DeviceControl", "<GuardCmd>ResetGuard</GuardCmd>\r\n"),
    "alarm_cmd": manscdp("Control", "DeviceControl", "<AlarmCmd>ResetAlarm</AlarmCmd>\r\n"
                         "<Info>\r\n<AlarmMethod>5</AlarmMethod>\r\n</Info>\r\n", CHANNEL),
    "teleboot": manscdp("Control", "DeviceControl", "<TeleBoot>Boot</TeleBoot>\r\n"),
    "ptz": manscdp("Control", "DeviceControl", "<PTZCmd>A50F010800FA00B7</PTZCmd>\r\n", CHANNEL),
    "iframe": manscdp("Control", "DeviceControl", "<IFameCmd>Send</IFameCmd>\r\n", CHANNEL),
    "device_config": manscdp("Control", "DeviceConfig", "<BasicParam>\r\n<Name>新村监控室</Name>\r\n"
                             "<Expiration>3600</Expiration>\r\n<HeartBeatInterval>30"
                             "</HeartBeatInterval>\r\n<HeartBeatCount>3</HeartBeatCount>\r\n"
                             "</BasicParam>\r\n"),
    "keepalive": manscdp("Notify", "Keepalive", "<Status>OK</Status>\r\n"),
    "response": manscdp("Response", "Catalog", "<SumNum>0</SumNum>\r\n"),
}

SDP = {
    # WVP-GB28181-pro's talk (对讲): TCP, it listens, G.711A both ways
    "wvp_talk": "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Talk\r\n"
                "c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 30010 TCP/RTP/AVP 8\r\n"
                "a=setup:passive\r\na=connection:new\r\na=sendrecv\r\na=rtpmap:8 PCMA/8000\r\n"
                "y=0100000001\r\nf=v/////a/1/8/1\r\n",
    # WVP-GB28181-pro, live over UDP and over TCP in both setup roles
    "wvp_play_udp": "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Play\r\n"
                    "c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=video 30012 RTP/AVP 96 97 98 99\r\n"
                    "a=recvonly\r\na=rtpmap:96 PS/90000\r\na=rtpmap:98 H264/90000\r\n"
                    "a=rtpmap:97 MPEG4/90000\r\na=rtpmap:99 H265/90000\r\ny=0200000001\r\nf=\r\n",
    "wvp_play_tcp_passive": "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Play\r\n"
                            "c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=video 30014 TCP/RTP/AVP 96 97 98\r\n"
                            "a=recvonly\r\na=rtpmap:96 PS/90000\r\na=rtpmap:98 H264/90000\r\n"
                            "a=rtpmap:97 MPEG4/90000\r\na=setup:passive\r\na=connection:new\r\n"
                            "a=streamnumber:1\r\ny=0200000002\r\nf=\r\n",
    "wvp_play_tcp_active": "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Play\r\n"
                           "c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=video 9 TCP/RTP/AVP 96\r\n"
                           "a=recvonly\r\na=rtpmap:96 PS/90000\r\na=setup:active\r\n"
                           "a=connection:new\r\ny=0200000003\r\n",
    "wvp_playback": "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Playback\r\n"
                    f"u={CHANNEL}:0\r\nc=IN IP4 192.168.1.10\r\nt=1795312800 1795316400\r\n"
                    "m=video 30016 RTP/AVP 96 97 98 99\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
                    "y=1200000002\r\nf=\r\n",
    "wvp_download": "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Download\r\n"
                    f"u={CHANNEL}:0\r\nc=IN IP4 192.168.1.10\r\nt=4004301600 4004305200\r\n"
                    "m=video 30018 RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
                    "a=downloadspeed:4\r\ny=1200000003\r\nf=\r\n",
    # Hikvision platforms (iVMS / ISC): payload types listed differently, f= filled in,
    # a vendor a=stream, LF line ends
    "hikvision_play": "v=0\no=34020000002000000001 0 0 IN IP4 10.10.0.20\ns=Play\n"
                      "c=IN IP4 10.10.0.20\nt=0 0\nm=video 15060 RTP/AVP 96 98 97\n"
                      "a=recvonly\na=rtpmap:96 PS/90000\na=rtpmap:98 H264/90000\n"
                      "a=rtpmap:97 MPEG4/90000\na=stream:0\ny=0100000001\n"
                      "f=v/2/25/25/1/4096a///\n",
    "hikvision_playback": "v=0\no=34020000002000000001 0 0 IN IP4 10.10.0.20\ns=Playback\n"
                          f"u={CHANNEL}:3\nc=IN IP4 10.10.0.20\nt=1795312800 1795316400\n"
                          "m=video 15062 RTP/AVP 96\na=recvonly\na=rtpmap:96 PS/90000\n"
                          "y=1100000002\n",
}

MANSRTSP = {
    "play": "PLAY RTSP/1.0\r\nCSeq: 3\r\nRange: npt=now-\r\n",
    "scale": "PLAY RTSP/1.0\r\nCSeq: 4\r\nScale: 2.000000\r\n",
    "seek": "PLAY RTSP/1.0\r\nCSeq: 5\r\nRange: npt=120-\r\n",
    "pause": "PAUSE RTSP/1.0\r\nCSeq: 6\r\nPauseTime: now\r\n",
    "teardown": "TEARDOWN RTSP/1.0\r\nCSeq: 7\r\n",
}


def sip_messages() -> dict[str, bytes]:
    reg = Registration(UPPER, random.Random(7))
    register = next(e.message for e in reg.start(0.0) if isinstance(e, Send))
    via, frm, to, call, cseq = (register.header(h) for h in ("Via", "From", "To", "Call-ID", "CSeq"))
    answer = [f"Via: {via}", f"From: {frm}", f"To: {to};tag=0a1b", f"Call-ID: {call}",
              f"CSeq: {cseq}"]
    out = {
        "our_register": bytes(register),
        # sipp's upper_register.xml answers, as it sends them
        "sipp_401": sip("SIP/2.0 401 Unauthorized", *answer,
                        'WWW-Authenticate: Digest realm="3402000000", nonce="123a1", algorithm=MD5'),
        "wvp_401_qop": sip("SIP/2.0 401 Unauthorized", *answer,
                           'WWW-Authenticate: Digest realm="3402000000", qop="auth", '
                           'nonce="b2a7f4c0e1", opaque="5ccc069c403ebaf9f0171e9517f40e41", '
                           'algorithm=MD5'),
        "sipp_200": sip("SIP/2.0 200 OK", *answer, "Expires: 3", "Date: 2026-11-22T12:00:00.000"),
        "rfc1123_200": sip("SIP/2.0 200 OK", *answer, "Expires: 3600",
                           "Date: Sun, 22 Nov 2026 04:00:00 GMT"),
        "sipp_403": sip("SIP/2.0 403 Forbidden", *answer),
        "redirect_302": sip("SIP/2.0 302 Moved Temporarily", *answer,
                            f"Contact: <sip:{SERVER_ID}@10.0.0.9:5070>"),
        "wvp_404": sip("SIP/2.0 404 device not found", *answer),
        "compact": sip(f"MESSAGE sip:{NODE_ID}@3402000000 SIP/2.0",
                       "v: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK9",
                       f"f: <sip:{SERVER_ID}@3402000000>;tag=9", f"t: <sip:{NODE_ID}@3402000000>",
                       "i: compact@192.168.1.10", "CSeq: 9 MESSAGE",
                       "c: Application/MANSCDP+xml", body=MANSCDP["device_info"]),
    }
    for name, body in MANSCDP.items():
        out[f"message_{name}"] = sip(f"MESSAGE sip:{NODE_ID}@3402000000 SIP/2.0",
                                     *request_headers("MESSAGE", 20, NODE_ID),
                                     "Content-Type: Application/MANSCDP+xml", body=body)
    for name, body in SDP.items():
        out[f"invite_{name}"] = sip(f"INVITE sip:{CHANNEL}@3402000000 SIP/2.0",
                                    *request_headers("INVITE", 30),
                                    f"Contact: <sip:{SERVER_ID}@192.168.1.10:5060>",
                                    f"Subject: {CHANNEL}:0200000001,{SERVER_ID}:0",
                                    "Content-Type: APPLICATION/SDP", body=body)
    out["info_scale"] = sip(f"INFO sip:{CHANNEL}@3402000000 SIP/2.0", *request_headers("INFO", 31),
                            "Content-Type: Application/MANSRTSP", body=MANSRTSP["scale"])
    out["bye"] = sip(f"BYE sip:{CHANNEL}@3402000000 SIP/2.0", *request_headers("BYE", 32))
    for package in ("Catalog", "presence"):
        out[f"subscribe_{package}"] = sip(
            f"SUBSCRIBE sip:{NODE_ID}@3402000000 SIP/2.0", *request_headers("SUBSCRIBE", 40, NODE_ID),
            f"Event: {package};id=1", "Expires: 3600", "Content-Type: Application/MANSCDP+xml",
            body=manscdp("Query", "Catalog" if package == "Catalog" else "Alarm"))
    return out


def media() -> tuple[dict[str, bytes], dict[str, bytes], bytes]:
    """PS frames from our muxer over really encoded frames, their RTP packets, an fMP4."""
    ps, rtp = {}, {}
    for codec in ("h264", "hevc"):
        units = _encode_video(ClipSpec(f"fuzz-{codec}", codec=codec, width=64, height=64,
                                       seconds=1, gop=10, bitrate=50_000))
        streams = Streams(codec, "pcm_alaw")
        for i in (0, 1):
            ps[f"{codec}_{'idr' if i == 0 else 'p'}"] = video_frame(streams, units[i], 3600 * i,
                                                                    None, i == 0)
        packets = Packetizer(200000001).packets(ps[f"{codec}_idr"], 0)
        rtp[f"{codec}_first"] = packets[0]
        rtp[f"{codec}_tcp"] = b"".join(frame_tcp(p) for p in packets[:3])
    ps["g711a"] = audio_frame(bytes(160), 1800)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seg.mp4"
        with av.open(str(path), "w", options={"movflags": "+empty_moov+default_base_moof",
                                              "frag_duration": "100000"}) as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width = stream.height = 64
            stream.pix_fmt = "yuv420p"
            for i in range(10):
                frame = av.VideoFrame.from_ndarray(
                    np.full((64, 64, 3), i * 20, "uint8"), format="rgb24")
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        mp4 = path.read_bytes()
    return ps, rtp, mp4


def audio_seeds() -> dict[str, bytes]:
    """A broadcast's audio as platforms send it (raw PCMA, PCMU, PS-wrapped, over TCP) and
    the SDP answers of WVP over UDP and TCP."""
    raw = Packetizer(100000001, payload_type=8).packets(bytes(range(160)), 0)[0]
    ps = Packetizer(100000001).packets(audio_frame(bytes(160), 1800), 160)
    answer = ("v=0\r\no=34020000002000000001 0 0 IN IP4 10.0.0.9\r\ns=Play\r\n"
              "c=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 30010 RTP/AVP 8\r\n"
              "a=rtpmap:8 PCMA/8000/1\r\na=sendonly\r\ny=0100000001\r\nf=v/////a/1/8/1\r\n")
    tcp = answer.replace("RTP/AVP 8", "TCP/RTP/AVP 8").replace("a=sendonly",
                                                               "a=sendonly\r\na=setup:passive")
    return {"pcma": raw, "pcmu": Packetizer(7, payload_type=0).packets(b"\xff" * 160, 0)[0],
            "ps": ps[0], "tcp": b"".join(frame_tcp(p) for p in [raw, *ps]),
            "answer_udp": answer.encode(), "answer_tcp": tcp.encode()}


def web_requests() -> dict[str, bytes]:
    """A route number (tests/fuzz/targets.py WEB_ROUTES) and what the browser sends it."""
    requests = {
        "settings": (0, f"node-id={NODE_ID}&node-name=%E6%9D%91&node-timezone=Asia/Shanghai&"
                        f"cam-0-id={CHANNEL}&cam-0-name=x&cam-0-url=rtsp://127.0.0.1:1/x"
                        "&cam-0-record=1"),
        "export": (1, f"channel={CHANNEL}&from=2026-11-22+08:00&to=2026-11-22+08:10&desensitise=1"),
        "timeline": (2, "from=1796000000&to=1796086400"),
        "events": (3, f"from=2026-11-22&to=2026-11-23&channel={CHANNEL}&kind=camera_offline&open=1"
                      "&before=5"),
        "playback": (4, f"channel={CHANNEL}&day=2026-11-22&at=1796000000"),
        "compliance": (5, "month=2026-11"),
        "audit": (6, "from=2026-11-22&actor=web:admin&action=login"),
        "users": (7, f"name=zhang&password=secret-123&role=viewer&cameras={CHANNEL}&display=x"),
        "playback_stream": (8, "start=1796000000"),
        "probe": (9, '{"url": "rtsp://127.0.0.1:1/x", "camera": 0}'),
        "live": (10, f"layout=9&cams={CHANNEL},,x"),
        "rules_try": (12, '{"zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], '
                          '"dwell_seconds": 30, "schedule": ["22:00-06:00"]}], "masks": [], '
                          '"tripwires": [{"name": "l", "line": [[0.1, 0.5], [0.9, 0.5]], '
                          '"direction": "a_to_b"}]}'),
        "counts": (13, "day=2026-11-22"),
        "counts_csv": (14, "day=2026-11-22"),
        "alerts": (15, "al-0-name=x&al-0-type=webhook&al-0-url=http://10.0.0.9/h&"
                       "al-0-ev-tripwire=1&al-0-quiet=22:00-06:00&al-0-max_per_10min=5"),
        "push_subscribe": (16, '{"endpoint": "https://push.example.net/wpush/v2/abc", "keys": '
                               '{"p256dh": "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
                               'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "auth": '
                               '"AAAAAAAAAAAAAAAAAAAAAA"}}'),
        "push_unsubscribe": (17, '{"endpoint": "https://push.example.net/wpush/v2/abc"}'),
    }
    return {name: bytes([route]) + body.encode() for name, (route, body) in requests.items()}


def tap_records() -> dict[str, bytes]:
    """What the recorder's stream tap sends: a description, frames, a camera gone."""
    info = StreamInfo("h264", "aac", bytes.fromhex("0000000167640028acd9"), 16000, 1, 640, 360)
    return {"info_and_frames": encode(b"I", json.dumps(info.as_dict()).encode())
            + encode_frame(Frame(True, True, b"\x00\x00\x01\x65" + b"\x88" * 40, 1796000000.5))
            + encode_frame(Frame(False, False, b"\x21" * 30, 1796000000.52)) + encode(b"N", b""),
            "error": encode(b"E", b"bad request")}


def main() -> None:
    seeds: dict[str, dict[str, bytes]] = {}
    messages = sip_messages()
    seeds["sip_message"] = seeds["sip_stream"] = messages
    seeds["subscription"] = {k: v for k, v in messages.items() if not k.startswith(("sipp", "wvp"))}
    seeds["registration"] = {k: v for k, v in messages.items() if k.split("_")[0] in (
        "sipp", "wvp", "rfc1123", "redirect")}
    seeds["digest"] = {"sipp": b'Digest realm="3402000000", nonce="123a1", algorithm=MD5',
                       "wvp_qop": b'Digest realm="3402000000", qop="auth,auth-int", nonce="b2a7", '
                                  b'opaque="5ccc069c", algorithm=MD5',
                       "sha256": b'Digest realm="3402000000", nonce="x", algorithm=SHA-256'}
    seeds["manscdp"] = {k: v.encode("gb18030") for k, v in MANSCDP.items()}
    seeds["sdp"] = {k: v.encode() for k, v in SDP.items()}
    seeds["invite"] = {**seeds["sdp"], **{k: v.encode() for k, v in MANSRTSP.items()}}
    seeds["mansrtsp"] = {k: v.encode() for k, v in MANSRTSP.items()}
    seeds["ps"], seeds["rtp"], mp4 = media()
    seeds["fmp4"] = {"segment": mp4}
    seeds["sip_date"] = {"wvp": b"2026-11-22T12:00:00.000", "vag": b"2026-11-22T12:00:00.5",
                         "rfc1123": b"Sun, 22 Nov 2026 04:00:00 GMT"}
    root = Path(__file__).resolve().parents[2]
    seeds["config"] = {"example": (root / "config" / "edge.example.toml").read_bytes(),
                       "minimal": b'[node]\nid = "34020000001180000001"\n'}
    seeds["rtsp_url"] = {"hikvision": b"rtsp://admin:pw@192.168.1.64:554/Streaming/Channels/101",
                         "dahua": b"rtsp://admin:pw@192.168.1.108:554/cam/realmonitor?channel=1"
                                  b"&subtype=0",
                         "ipv6": b"rtsp://[fe80::1]:554/live"}
    seeds["gb28181_settings"] = {"saved": b'{"name": "\xe6\x96\xb0\xe6\x9d\x91", "disarmed": '
                                          b'["34020000001320000001"], "platforms": {'
                                          b'"34020000002000000001": {"expires": 7200, '
                                          b'"keepalive_interval": 30, '
                                          b'"keepalive_timeout_count": null}}}'}
    seeds["mqtt_command"] = {"snapshot": b'{"channel": "34020000001320000001"}', "empty": b"",
                             "ping": b"{}"}
    health = {"schema": "edge.health/1", "summary": {"cameras": 2, "online": 1},
              "cameras": [{"id": "34020000001320000001", "name": "村口", "online": True}]}
    seeds["health_payload"] = {
        "zlib": encode_payload(health, True)[0], "json": encode_payload(health, False)[0],
        "delta": encode_payload({"schema": "edge.health-delta/1", "seq": 3,
                                 "changes": {"cameras": {"c": None}}}, False)[0]}
    seeds["segment_name"] = {"mp4": b"083000_123.mp4", "mov": b"235959_999.mov"}
    seeds["tap"] = tap_records()
    seeds["broadcast_audio"] = audio_seeds()
    seeds["camera_rtsp"] = {"gstreamer": GSTREAMER.encode(), "hikvision": HIKVISION.encode(),
                            "describe": b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: "
                                        + str(len(GSTREAMER)).encode() + b"\r\n\r\n"
                                        + GSTREAMER.encode(),
                            "setup": b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nSession: 1A2B;timeout=60"
                                     b"\r\n\r\n$\x01\x00\x04rtcp"}
    seeds["camera_mic"] = {f"aac_{i}": f for i, f in enumerate(aac_frames(0.3, 440)[:4])}
    seeds["web"] = web_requests()
    seeds["time_range"] = {"night": b"22:00-06:00", "days": b"sat,sun 00:00-24:00",
                           "range": b"mon-fri 08:00-18:00", "bad": b"25:00-26:00"}
    for target, files in seeds.items():
        folder = CORPUS / target
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    print(f"wrote {sum(len(f) for f in seeds.values())} seeds for {len(seeds)} targets")


if __name__ == "__main__":
    main()
