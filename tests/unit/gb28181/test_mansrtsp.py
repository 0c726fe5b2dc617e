import pytest

from edge.errors import ProtocolError
from edge.gb28181.media.mansrtsp import Control, parse_control


@pytest.mark.parametrize("body, expected", [
    (b"PLAY RTSP/1.0\r\nCSeq: 3\r\nScale: 2.000000\r\n", Control("play", 2.0)),
    (b"PAUSE RTSP/1.0\r\nCSeq: 4\r\nPauseTime: now\r\n", Control("pause")),
    (b"PLAY RTSP/1.0\r\nCSeq: 5\r\nRange: npt=now-\r\n", Control("play")),
    (b"PLAY RTSP/1.0\r\nCSeq: 6\r\nRange: npt=120-\r\n", Control("play", None, 120.0)),
    (b"TEARDOWN RTSP/1.0\r\nCSeq: 7\r\n", Control("teardown")),
])
def test_controls(body: bytes, expected: Control) -> None:
    assert parse_control(body) == expected


@pytest.mark.parametrize("body, reason", [
    (b"", "is not PLAY"), (b"RECORD RTSP/1.0\r\n", "is not PLAY"),
    (b"PLAY RTSP/1.0\r\nScale: fast\r\n", "not a number"),
    (b"PLAY RTSP/1.0\r\nScale: 16\r\n", "outside"),
    (b"PLAY RTSP/1.0\r\nRange: npt=x-\r\n", "Range npt 'x' is not a number"),
    ("PLAY RTSP/1.0\r\nScale: \uff12\r\n".encode(), "non-ASCII digits"),
    (b"PLAY RTSP/1.0\r\nScale: nan\r\n", "not a number"),
])
def test_bad_controls(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_control(body)
