import hashlib

import pytest

from edge.errors import ProtocolError
from edge.digest import Challenge, authorization, digest_response, parse_challenge


def test_rfc2617_vector() -> None:
    ch = Challenge("testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth",
                   opaque="5ccc069c403ebaf9f0171e9517f40e41")
    response = digest_response(ch, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b")
    assert response == "6629fae49393a05397450978507c4ef1"


def test_gb28181_register_without_qop() -> None:
    ch = parse_challenge('Digest realm="3402000000", nonce="abc123", algorithm=MD5')
    uri = "sip:34020000002000000001@3402000000"
    ha1 = hashlib.md5(b"34020000001180000001:3402000000:12345678").hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:abc123:{ha2}".encode()).hexdigest()
    header = authorization(ch, "34020000001180000001", "12345678", "REGISTER", uri)
    assert f'response="{expected}"' in header and f'uri="{uri}"' in header
    assert "qop" not in header


def test_wvp_style_challenge_with_qop_and_sha256() -> None:
    ch = parse_challenge('Digest realm="3402000000",qop="auth, auth-int",nonce="n1",'
                         'opaque="op",algorithm=SHA-256')
    assert (ch.qop, ch.algorithm, ch.opaque) == ("auth", "SHA-256", "op")
    header = authorization(ch, "u", "p", "REGISTER", "sip:s@d", nc=2, cnonce="c")
    assert "nc=00000002" in header and 'cnonce="c"' in header and 'opaque="op"' in header
    assert len(digest_response(ch, "u", "p", "REGISTER", "sip:s@d", 2, "c")) == 64


@pytest.mark.parametrize("value, message", [
    ('Basic realm="x"', "is not Digest"),
    ('Digest realm="x"', "lacks realm or nonce"),
    ('Digest realm="x", nonce="n", algorithm=SHA-512', "not supported"),
    ('Digest realm="x", nonce="n", qop="auth-int"', "offers no 'auth'"),
])
def test_bad_challenges(value: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_challenge(value)
