"""Fuzz targets: one per parse path that a peer or a file feeds. Each takes bytes and
either returns or raises one of its ``allowed`` errors (our own ProtocolError or
ConfigError kinds); anything else is a crash. Used by tests/fuzz/test_fuzz.py (a short
coverage-guided pass in CI) and bench/fuzz.py (>= 1,000,000 inputs per target).

Where a parser's result feeds a decision core (MANSCDP -> answers/control, SDP ->
media sessions, responses -> the registration state machine), the target drives that
core too: it must take whatever the parser accepted without raising at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from unittest import mock

from edge import config as config_mod
from edge.errors import ConfigError, ProtocolError
from edge.gb28181.answers import handle
from edge.gb28181.manscdp import parse_body
from edge.gb28181.media.audio import AudioDepacketizer
from edge.gb28181.media.mansrtsp import parse_control
from edge.gb28181.media.mic import Microphone
from edge.gb28181.media.psdemux import PsDemuxer
from edge.gb28181.media.rtp import TcpDeframer, parse_rtp
from edge.gb28181.media.sdp import parse_audio_answer, parse_offer
from edge.gb28181.media.sessions import MediaSessions
from edge.gb28181.model import Channel, Link, Node
from edge.gb28181.settings import parse_settings
from edge.ingest.media import StreamInfo
from edge.digest import digest_response, parse_challenge
from edge.gb28181.sip.framing import SipStreamBuffer
from edge.gb28181.sip.message import SipRequest, SipResponse, parse
from edge.gb28181.sip.registration import Registration, Send, UpperPlatform, parse_sip_date
from edge.gb28181.sip.subscription import Subscriptions
from edge.mqtt.commands import parse_args, reply_topic
from edge.mqtt.encoding import decode as decode_payload
from edge.gb28181.ptzcmd import decode as decode_ptz
from edge.gb28181.ptzcmd import parse_ptz
from edge.onvif.discovery import matches as probe_matches
from edge.onvif.rtsp import Reader, Response, backchannel_track, session_id
from edge.record.fmp4 import HEADER_PEEK, complete_length, parse_box_header
from edge.record.naming import start_from_path
from edge.timeranges import RangeError, parse_range
from edge.voice import g711
from edge.web.views import export as export_view
from edge.web.views import settings as settings_view

CORPUS = Path(__file__).resolve().parent / "corpus"
NODE_ID = "34020000001180000001"
SERVER_ID = "34020000002000000001"
CHANNELS = [Channel("34020000001320000001", "村口", True, True),
            Channel("34020000001320000002", "小学", False, False)]
NODE = Node(NODE_ID, "边缘节点", "Asia/Shanghai",
            link=Link(SERVER_ID, "10.0.0.1", 5060, "3402000000", 3600, 60, 3))
NOW = 1_795_000_000.0
UPPER = UpperPlatform(server_id=SERVER_ID, domain="3402000000", host="10.0.0.1", port=5060,
                      transport="UDP", local_id=NODE_ID, local_host="10.0.0.5",
                      local_port=5060, username=NODE_ID, password="12345678")


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...] = (ProtocolError,)

    @property
    def corpus(self) -> Path:
        return CORPUS / self.name

    def seeds(self) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.corpus.iterdir())] if self.corpus.is_dir() \
            else []


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def sip_stream(data: bytes) -> None:
    """The bytes of a TCP stream, in slices of a size the input chooses."""
    step = (data[0] % 13) + 1 if data else 1
    buf = SipStreamBuffer()
    for i in range(0, len(data), step):
        buf.feed(data[i:i + step])
        while buf.next_message() is not None:
            pass


def digest(data: bytes) -> None:
    challenge = parse_challenge(_text(data))
    digest_response(challenge, NODE_ID, "12345678", "REGISTER", f"sip:{SERVER_ID}@3402000000")


def manscdp(data: bytes) -> None:
    try:
        message = parse_body(data)
    except ProtocolError:
        return
    handle(message, NODE, CHANNELS, lambda _c, s, e: [(s, min(e, s + 60))], NOW)


def invite(data: bytes) -> None:
    """An INVITE with this SDP, then INFO with this MANSRTSP body, ACK and BYE."""
    sessions = MediaSessions(NODE_ID, (30000, 30099), 4, random.Random(0))
    headers = (("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1"),
               ("From", f"<sip:{SERVER_ID}@3402000000>;tag=1"),
               ("To", f"<sip:{CHANNELS[0].id}@3402000000>"), ("Call-ID", "c1"),
               ("CSeq", "1 INVITE"), ("Contact", f"<sip:{SERVER_ID}@10.0.0.1:5060>"))
    request = SipRequest("INVITE", f"sip:{CHANNELS[0].id}@3402000000", headers, data)
    sessions.invite(request, SERVER_ID, CHANNELS, "10.0.0.5", 0.0)
    sessions.ack(SipRequest("ACK", request.uri, headers), NOW)
    sessions.info(SipRequest("INFO", request.uri, headers, data))
    sessions.bye(SipRequest("BYE", request.uri, headers))


def rtp(data: bytes) -> None:
    for packet in [data, *TcpDeframer().feed(data)]:
        try:
            parse_rtp(packet)
        except ProtocolError:
            pass


def broadcast_audio(data: bytes) -> None:
    """A broadcast: the platform's RTP (raw G.711 or PS, over UDP or TCP) to samples, and
    its SDP answer."""
    depacketizer = AudioDepacketizer()
    for packet in [data, *TcpDeframer().feed(data)]:
        try:
            for chunk in depacketizer.feed(packet):
                g711.decode(chunk.codec, chunk.payload)
        except ProtocolError:
            pass
    try:
        parse_audio_answer(_text(data))
    except ProtocolError:
        pass


def registration(data: bytes) -> None:
    """The platform's answers: these bytes as the response to each request we send."""
    try:
        fuzzed = parse(data)
    except ProtocolError:
        return
    if not isinstance(fuzzed, SipResponse):
        return
    reg = Registration(UPPER, random.Random(0))
    effects = reg.start(0.0)
    for step in range(4):  # REGISTER, the challenged REGISTER, keepalives
        sent = [e.message for e in effects if isinstance(e, Send)]
        if not sent:
            effects = reg.tick(100.0 * (step + 1))
            continue
        own = {k.lower() for k in ("Via", "From", "To", "Call-ID", "CSeq")}
        headers = tuple((k, v) for k, v in sent[-1].headers if k.lower() in own) + tuple(
            (k, v) for k, v in fuzzed.headers if k.lower() not in own)
        effects = reg.handle(SipResponse(fuzzed.status, fuzzed.reason, headers, fuzzed.body),
                             10.0 * step, NOW) + reg.tick(10.0 * step + 61)


def subscription(data: bytes) -> None:
    try:
        request = parse(data)
    except ProtocolError:
        return
    if isinstance(request, SipRequest):
        subs = Subscriptions(f"sip:{NODE_ID}@3402000000", "SIP/2.0/UDP 10.0.0.5:5060")
        subs.subscribe(request, 0.0, b"<Response/>")
        subs.notify("Catalog", b"<Notify/>", 1.0)
        subs.expire(1e6)


def config(data: bytes) -> None:
    config_mod.parse(config_mod.parse_toml(data, "fuzz.toml"))


def mqtt_command(data: bytes) -> None:
    reply_topic(_text(data), "edge/n/cmd/ping/reply")
    parse_args(data)


def fmp4(data: bytes) -> None:
    """A segment file's boxes, as start-up reconciliation walks them."""
    boxes, offset = [], 0
    while offset < len(data):
        box = parse_box_header(data[offset:offset + HEADER_PEEK], offset, len(data))
        if box is None:
            break
        boxes.append(box)
        offset = box.end
    complete_length(boxes, len(data))


def camera_rtsp(data: bytes) -> None:
    """A camera's RTSP answers to the backchannel's requests, and its SDP."""
    for item in Reader().feed(data):
        if isinstance(item, Response):
            backchannel_track(item.body.decode("utf-8", "replace"), "rtsp://192.168.1.64/c/")
            session_id(item)
    backchannel_track(_text(data), "rtsp://192.168.1.64/c/")


def camera_mic(data: bytes) -> None:
    """A camera's AAC frame (off the live tap) to the platform's G.711 in a talk."""
    Microphone(StreamInfo("h264", "aac", b"", 16000, 1), "pcma").payload(data)


TARGETS = {t.name: t for t in [
    Target("sip_message", parse),
    Target("sip_stream", sip_stream),
    Target("digest", digest),
    Target("manscdp", manscdp),
    Target("sdp", lambda d: parse_offer(_text(d))),
    Target("invite", invite, ()),
    Target("mansrtsp", parse_control),
    Target("ps", lambda d: PsDemuxer().parse(d)),
    Target("rtp", rtp, ()),
    Target("broadcast_audio", broadcast_audio, ()),
    Target("camera_mic", camera_mic),
    Target("camera_rtsp", camera_rtsp),
    Target("registration", registration, ()),
    Target("subscription", subscription, ()),
    Target("sip_date", lambda d: parse_sip_date(_text(d), "Asia/Shanghai"), ()),
    Target("config", config, (ConfigError,)),
    Target("rtsp_url", lambda d: config_mod.check_rtsp_url(_text(d)), ()),
    Target("gb28181_settings", parse_settings, (ConfigError,)),
    Target("mqtt_command", mqtt_command),
    Target("health_payload", decode_payload),
    Target("segment_name", lambda d: start_from_path(Path("2026-11-22") / _text(d)), ()),
    Target("fmp4", fmp4, ()),
    Target("ptzcmd", lambda d: decode_ptz(parse_ptz(_text(d)))),
    Target("probe_match", lambda d: probe_matches(d, "192.168.1.64"), ()),
    Target("onvif_url", lambda d: config_mod.check_onvif_url(_text(d)), ()),
    Target("time_range", lambda d: parse_range(_text(d)), (RangeError,)),
]}


def check(target: Target, data: bytes) -> None:
    """Run one input; a crash is an AssertionError naming the target and the input."""
    try:
        target.run(data)
    except target.allowed:
        pass
    except Exception as exc:
        raise AssertionError(f"{target.name} raised {type(exc).__name__}: {exc} "
                             f"on input {data[:200]!r}") from exc


def _email_headers(data: bytes) -> None:
    import email.parser

    email.parser.BytesHeaderParser().parsebytes(data)


def _xml(data: bytes) -> None:
    import defusedxml.ElementTree

    defusedxml.ElementTree.fromstring(data)


def _toml(data: bytes) -> None:
    import tomllib

    tomllib.loads(data.decode("utf-8"))


def _json(data: bytes) -> None:
    import json

    json.loads(data)


# bench/fuzz.py's anchors: the standard library's parser of the same grammar, fuzzed the
# same way from the same seeds (any exception allowed: only the speed is compared)
ANCHORS = {t.name: t for t in [
    Target("sip_message", _email_headers, (Exception,)),
    Target("manscdp", _xml, (Exception,)),
    Target("config", _toml, (Exception,)),
    Target("mqtt_command", _json, (Exception,)),
]}


def tap(data: bytes) -> None:
    """What another process reads off the stream tap."""
    from edge.stream.tap import decode

    list(decode(bytearray(data)))


TARGETS["tap"] = Target("tap", tap)


def query_params(data: bytes) -> None:
    """A query string's dates, months and IDs (edge/web/params.py), as the web UI parses
    them before any use."""
    from edge.web.params import parse_day, parse_id, parse_month

    text = _text(data)
    parse_day(text, "Asia/Shanghai", "from")
    parse_month(text, "Asia/Shanghai", "month")
    parse_id(text, "before")


def _param_error() -> type[BaseException]:
    from edge.web.params import ParamError

    return ParamError


TARGETS["query_params"] = Target("query_params", query_params, (_param_error(),))


_WEB: dict[str, object] = {}
WEB_ROUTES = [("POST", "/settings"), ("POST", "/export"), ("GET", "/api/timeline/{c}"),
              ("GET", "/events"), ("GET", "/playback"), ("GET", "/compliance"),
              ("GET", "/audit"), ("POST", "/users"), ("GET", "/api/playback/{c}"),
              ("POST", "/api/probe"), ("GET", "/live"), ("GET", "/audit.csv"),
              ("POST", "/rules/{c}/try"), ("GET", "/counts"), ("GET", "/counts.csv"),
              ("POST", "/alerts"), ("POST", "/push/subscribe"), ("POST", "/push/unsubscribe")]


def _web_client() -> object:
    """One signed-in admin on an app over a temporary node (made once per process)."""
    if "client" not in _WEB:
        import tempfile

        from edge.record.index import Index
        from edge.web.accounts import Accounts
        from edge.web.app import create_app

        work = Path(tempfile.mkdtemp(prefix="edge-fuzz-web-"))
        path = work / "edge.toml"
        path.write_text(f'[node]\nid = "{NODE_ID}"\ndata_dir = "{work / "data"}"\n\n'
                        f'[[cameras]]\nid = "{CHANNELS[0].id}"\nname = "村口"\n'
                        'url = "rtsp://127.0.0.1:1/x"\n', encoding="utf-8")
        cfg = config_mod.load(path)
        index = Index(cfg.data_dir)
        Accounts.create_schema(index.db)
        Accounts(index.db).add("admin", "fuzz-pass-1", "admin")
        index.close()
        app = create_app(cfg, path)
        app.config["TESTING"] = True  # an unexpected exception reaches us, not a 500 page
        client = app.test_client()
        client.get("/login")
        with client.session_transaction() as session:
            token = session["csrf"]
        client.post("/login", data={"name": "admin", "password": "fuzz-pass-1", "csrf": token})
        with client.session_transaction() as session:  # a new session after signing in
            token = session["csrf"]
        _WEB.update(client=client, token=token)
    return _WEB["client"]


class _NoChildren:
    TimeoutExpired = TimeoutError

    @staticmethod
    def run(argv: list[str], **_kwargs: object) -> object:
        import subprocess

        return subprocess.CompletedProcess(argv, 1, "", "probe not run while fuzzing")


def web(data: bytes) -> None:
    """A request a signed-in browser (or anyone holding its cookie) could send: the first
    byte picks the route, the rest is its query string or form body."""
    client: Any = _web_client()
    method, route = WEB_ROUTES[data[0] % len(WEB_ROUTES)] if data else WEB_ROUTES[0]
    url = route.format(c=CHANNELS[0].id)
    body = data[1:]
    # a request that validates would start a real `edge export` or `edge probe`: what is
    # fuzzed here is the parsing and checking before that, so no child is started (patched
    # for this request only: the tests after the fuzz pass export for real)
    with mock.patch.object(export_view, "_start", lambda *_: "fuzz"), \
            mock.patch.object(settings_view, "subprocess", _NoChildren):
        response = _send(client, method, url, body)
    if response.status_code >= 500 and response.status_code not in (503, 504):
        raise AssertionError(f"{method} {url}: {response.status_code}")


def _send(client: Any, method: str, url: str, body: bytes) -> Any:
    if method == "GET":
        return client.get(url, environ_overrides={"QUERY_STRING": body.decode("latin-1")})
    if url == "/api/probe" or url.startswith(("/rules/", "/push/")):
        return client.post(url, data=body, content_type="application/json",
                           headers={"X-CSRF-Token": _WEB["token"]})
    return client.post(url, data=body + b"&csrf=" + str(_WEB["token"]).encode(),
                       content_type="application/x-www-form-urlencoded")


TARGETS["web"] = Target("web", web, ())
