"""HTTP digest authentication (RFC 2617, RFC 7616 for SHA-256): SIP REGISTER and RTSP. Pure.

GB/T 28181 platforms (WVP's DigestServerAuthenticationHelper) check ``uri`` as sent, so it
must equal the Request-URI, and format ``nc`` as 8 hex digits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from edge.errors import ProtocolError

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)\s*,?')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: str | None = None  # "auth" when offered
    opaque: str | None = None


def parse_challenge(value: str) -> Challenge:
    """A ``WWW-Authenticate``/``Proxy-Authenticate`` header value. Raises ProtocolError."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ProtocolError(f"authentication scheme {scheme!r} is not Digest")
    params = {k.lower(): v.strip('"') for k, v in _PARAM.findall(rest)}
    if "realm" not in params or "nonce" not in params:
        raise ProtocolError("Digest challenge lacks realm or nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in _HASHES:
        raise ProtocolError(f"Digest algorithm {algorithm!r} is not supported (MD5, SHA-256)")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        raise ProtocolError(f"Digest qop {qops} offers no 'auth'")
    return Challenge(params["realm"], params["nonce"], algorithm,
                     "auth" if qops else None, params.get("opaque"))


def digest_response(ch: Challenge, username: str, password: str, method: str, uri: str,
                    nc: int = 1, cnonce: str = "") -> str:
    """The ``response`` value: H(H(A1):nonce[:nc:cnonce:qop]:H(A2))."""
    h = _HASHES[ch.algorithm]

    def hexdigest(text: str) -> str:
        return h(text.encode("utf-8")).hexdigest()

    ha1 = hexdigest(f"{username}:{ch.realm}:{password}")
    ha2 = hexdigest(f"{method}:{uri}")
    if ch.qop:
        return hexdigest(f"{ha1}:{ch.nonce}:{nc:08x}:{cnonce}:{ch.qop}:{ha2}")
    return hexdigest(f"{ha1}:{ch.nonce}:{ha2}")


def authorization(ch: Challenge, username: str, password: str, method: str, uri: str,
                  nc: int = 1, cnonce: str = "") -> str:
    """The ``Authorization`` header value answering ``ch``."""
    response = digest_response(ch, username, password, method, uri, nc, cnonce)
    parts = [f'username="{username}"', f'realm="{ch.realm}"', f'nonce="{ch.nonce}"',
             f'uri="{uri}"', f'response="{response}"', f"algorithm={ch.algorithm}"]
    if ch.qop:
        parts += [f"qop={ch.qop}", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    if ch.opaque is not None:
        parts.append(f'opaque="{ch.opaque}"')
    return "Digest " + ", ".join(parts)
