"""Web Push to the duty officer's browser or phone: the message encrypted for the one
browser that subscribed (RFC 8291, ``aes128gcm`` of RFC 8188) and the box identified to
the browser's push service with a VAPID token (RFC 8292). Pure but for the key file.

The box's VAPID key is made on the box the first time it is needed (``data_dir/
webpush-vapid.pem``, 0600); a browser subscribes with its public half, so a new key would
orphan every subscription: it is kept like the other secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VAPID_FILE = "webpush-vapid.pem"
RECORD_SIZE = 4096
TOKEN_S = 12 * 3600  # a VAPID token's life; push services take at most 24 h
TTL_S = 24 * 3600  # how long the push service keeps a message for a phone that is off
DEFAULT_CONTACT = "mailto:admin@edge.invalid"


class PushError(Exception):
    """A subscription we cannot encrypt for (bad keys from the browser)."""


@dataclass(frozen=True, slots=True)
class Device:
    """One browser's subscription, as ``PushSubscription.toJSON()`` gives it."""

    endpoint: str  # the push service's URL for this browser
    p256dh: str  # the browser's public key, base64url
    auth: str  # the 16-byte secret it shares with us, base64url
    user: str = ""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise PushError(f"not base64url: {text[:20]!r}") from exc


def public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def encrypt(device: Device, plaintext: bytes, salt: bytes | None = None,
            sender: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """One ``aes128gcm`` record for ``device`` (RFC 8291 §3.4); ``salt`` and ``sender`` (the
    one-use key) are fresh unless a test gives them."""
    ua_public = unb64url(device.p256dh)
    auth = unb64url(device.auth)
    if len(auth) != 16 or len(ua_public) != 65:
        raise PushError("the browser's keys have the wrong length")
    try:
        browser = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    except ValueError as exc:
        raise PushError("the browser's key is not a P-256 point") from exc
    sender = sender or ec.generate_private_key(ec.SECP256R1())
    salt = salt or os.urandom(16)
    as_public = public_bytes(sender)
    try:
        shared = sender.exchange(ec.ECDH(), browser)
    except (ValueError, InvalidKey) as exc:
        raise PushError("no shared secret with the browser's key") from exc
    ikm = _hkdf(auth, shared, b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    if len(plaintext) + 1 + 16 + 86 > RECORD_SIZE:
        raise PushError(f"a message of {len(plaintext)} bytes is over one record")
    sealed = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)  # \x02: the last record
    return salt + struct.pack(">IB", RECORD_SIZE, len(as_public)) + as_public + sealed


def vapid_headers(key: ec.EllipticCurvePrivateKey, endpoint: str, now: float,
                  contact: str = "") -> dict[str, str]:
    """``Authorization: vapid t=<ES256 JWT>, k=<public key>`` for the endpoint's origin."""
    parts = urllib.parse.urlsplit(endpoint)
    claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(now) + TOKEN_S,
              "sub": contact or DEFAULT_CONTACT}
    signing_input = (b64url(json.dumps({"typ": "JWT", "alg": "ES256"}).encode()) + "."
                     + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    token = signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return {"Authorization": f"vapid t={token}, k={b64url(public_bytes(key))}"}


def request_headers(key: ec.EllipticCurvePrivateKey, endpoint: str, now: float,
                    contact: str = "") -> dict[str, str]:
    return {**vapid_headers(key, endpoint, now, contact), "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream", "TTL": str(TTL_S), "Urgency": "high"}


def vapid_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The box's VAPID key, made on first use. Written whole to a private file and linked
    into place, so two makers at once (the web, the alert runner) agree on the first."""
    path = data_dir / VAPID_FILE
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        draft = path.with_name(f".{VAPID_FILE}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # the other maker was first: its key is the one
        finally:
            draft.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PushError(f"{path} is not an EC key")
    return key


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) for one block, all Web Push needs."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]
