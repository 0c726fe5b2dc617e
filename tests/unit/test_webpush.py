"""Web Push (edge/alerts/webpush.py): the message encrypted as RFC 8291 says, proven by a
second implementation (the ``http_ece`` package) decrypting it with the browser's key; the
VAPID token (RFC 8292) verified with the box's public key. Pure."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from edge.alerts.webpush import (
    Device, PushError, b64url, encrypt, public_bytes, request_headers, unb64url, vapid_key,
)


def browser() -> tuple[ec.EllipticCurvePrivateKey, bytes, Device]:
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    return key, auth, Device("https://push.example/send/abc", b64url(public_bytes(key)),
                             b64url(auth))


def test_what_the_box_encrypts_the_browser_decrypts() -> None:
    key, auth, device = browser()
    message = json.dumps({"title": "【越线】村口", "body": "有人越过河堤线"}).encode()
    body = encrypt(device, message)
    assert body[16:20] == (4096).to_bytes(4, "big") and body[20] == 65
    assert http_ece.decrypt(body, private_key=key, auth_secret=auth) == message
    # a fresh salt and one-use key each time: the same alert twice is not the same bytes
    assert encrypt(device, message)[:16] != body[:16]
    other, _, _ = browser()
    with pytest.raises(Exception):
        http_ece.decrypt(body, private_key=other, auth_secret=auth)


def test_bad_browser_keys_and_oversize_messages_are_our_error() -> None:
    _, _, device = browser()
    for bad in (Device(device.endpoint, "AAAA", device.auth),
                Device(device.endpoint, device.p256dh, b64url(b"short")),
                Device(device.endpoint, b64url(b"\x04" + b"\x01" * 64), device.auth),
                Device(device.endpoint, "!!!", device.auth)):
        with pytest.raises(PushError):
            encrypt(bad, b"x")
    with pytest.raises(PushError, match="over one record"):
        encrypt(device, b"x" * 4000)


def test_the_vapid_token_names_the_push_service_and_is_signed_by_the_box(tmp_path: Path) -> None:
    key = vapid_key(tmp_path)
    assert stat.S_IMODE((tmp_path / "webpush-vapid.pem").stat().st_mode) == 0o600
    assert public_bytes(vapid_key(tmp_path)) == public_bytes(key)  # kept, not made again
    headers = request_headers(key, "https://fcm.googleapis.com/fcm/send/xyz", 1796470000.0,
                              "mailto:duty@village.example")
    assert headers["Content-Encoding"] == "aes128gcm" and int(headers["TTL"]) > 0
    scheme, params = headers["Authorization"].split(" ", 1)
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and unb64url(fields["k"]) == public_bytes(key)
    header, claims, signature = fields["t"].split(".")
    assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
    assert json.loads(unb64url(claims)) == {"aud": "https://fcm.googleapis.com",
                                            "exp": 1796470000 + 12 * 3600,
                                            "sub": "mailto:duty@village.example"}
    raw = unb64url(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
