"""A scan of the camera LAN as ``edge discover`` and the settings page's "find cameras"
dialog run it: WS-Discovery, then each device read with the technician's credentials (a
few at once), and what the dialog proposes to add: one camera per video source (an NVR
lists each of its channels) with its main and sub profile, and a channel ID from the
node's numbering."""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from edge.digits import is_digits
from edge.gbid import CAMERA_TYPES
from edge.onvif import device, discovery
from edge.onvif.device import DeviceFacts, Profile

READERS = 8  # devices read at once


class AddressError(ValueError):
    """An --address / dialog address that is not HOST[:PORT]."""


def parse_address(text: str) -> tuple[str | None, int]:
    """``HOST[:PORT]`` (the WS-Discovery port, 3702 by default); an empty text: multicast."""
    text = text.strip()
    if not text:
        return None, discovery.WS_DISCOVERY_PORT
    host, sep, port = text.rpartition(":") if ":" in text else (text, "", "")
    if sep and not (is_digits(port) and len(port) <= 5 and 0 < int(port) < 65536):
        raise AddressError(f"端口无效 invalid port in {text[:60]!r}")
    if not host or len(host) > 253 or any(c in host for c in "/@ "):
        raise AddressError(f"地址无效 invalid host in {text[:60]!r}")
    return host, int(port) if sep else discovery.WS_DISCOVERY_PORT


def scan(host: str | None, port: int, user: str, password: str, timeout_s: float
         ) -> tuple[list[DeviceFacts], list[dict[str, str]]]:
    """Every device that answered, read; and those that answered but could not be read."""
    found = discovery.probe(host, timeout_s, port)

    def read(address: str) -> DeviceFacts | dict[str, str]:
        try:
            return device.read(address, user, password)
        except device.OnvifError as exc:
            return {"address": address, "error": str(exc)}

    with ThreadPoolExecutor(READERS) as pool:
        results = list(pool.map(read, [hit.address for hit in found]))
    return ([r for r in results if isinstance(r, DeviceFacts)],
            [r for r in results if isinstance(r, dict)])


@dataclass(frozen=True, slots=True)
class Source:
    """One picture a device gives: its best profile (main) and the next (sub)."""

    token: str
    main: Profile
    sub: Profile | None


def sources(facts: DeviceFacts) -> list[Source]:
    """The device's video sources with an RTSP main profile, in the device's order."""
    by_source: dict[str, list[Profile]] = {}
    for p in facts.profiles:
        if p.rtsp:
            by_source.setdefault(p.source or p.token, []).append(p)
    out = []
    for token, found in by_source.items():
        ranked = sorted(found, key=lambda p: p.width * p.height, reverse=True)
        out.append(Source(token, ranked[0], ranked[1] if len(ranked) > 1 else None))
    return out


def propose_ids(node_id: str, taken: set[str], count: int) -> list[str]:
    """``count`` free camera IDs in the node's numbering: its centre and industry digits,
    type 132 (camera), the next serial numbers not taken."""
    prefix = node_id[:10] + CAMERA_TYPES[1]  # 132: IPC
    used = {int(t[13:]) for t in taken if len(t) == 20 and t.startswith(prefix)
            and is_digits(t[13:])}
    out: list[str] = []
    serial = max(used, default=0)
    while len(out) < count and serial < 9_999_999:
        serial += 1
        if serial not in used:
            out.append(f"{prefix}{serial:07d}")
    return out


def with_credentials(rtsp: str, user: str, password: str) -> str:
    """The device's RTSP URI with the user and password the box logs in with."""
    if not user:
        return rtsp
    parts = urllib.parse.urlsplit(rtsp)
    host = parts.netloc.rpartition("@")[2]
    login = urllib.parse.quote(user, safe="") + (
        ":" + urllib.parse.quote(password, safe="") if password else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{login}@{host}"))
