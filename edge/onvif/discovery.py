"""WS-Discovery: which ONVIF devices answer on the camera LAN (a multicast Probe from every
LAN interface) or at one address (a unicast Probe, for routed subnets and for tests).

A ProbeMatch is only a hint: anyone on the LAN can send one. A match whose device address
is not the host that sent it (a stranger pointing the box elsewhere) is dropped, garbage
is ignored, and nothing found is ever added as a camera without the technician's click.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
import urllib.parse
import uuid
from dataclasses import dataclass

import psutil
from onveef.wsdiscovery import WS_DISCOVERY_ADDRESS, WS_DISCOVERY_PORT, build_probe, parse_probe_matches

logger = logging.getLogger(__name__)

MAX_DATAGRAM = 65_535
MAX_DEVICES = 256
MAX_MATCHES_PER_REPLY = 16


@dataclass(frozen=True, slots=True)
class Found:
    sender: str  # the IP the reply came from
    address: str  # the device service URL
    name: str = ""
    hardware: str = ""
    location: str = ""


def matches(data: bytes, sender: str) -> tuple[list[Found], list[str]]:
    """The ProbeMatches in one reply that point at their sender, and why others were not
    taken. Pure; never raises."""
    if len(data) > MAX_DATAGRAM:
        return [], [f"{sender}: reply of {len(data)} bytes ignored"]
    try:
        parsed = parse_probe_matches(data.decode("utf-8", errors="replace"))
    except Exception as exc:  # noqa: BLE001 — a stranger's datagram must not end the scan
        return [], [f"{sender}: unreadable reply ({type(exc).__name__})"]
    found, refused = [], []
    for match in parsed[:MAX_MATCHES_PER_REPLY]:
        address = next((x for x in match.xaddrs if _host(x) == sender), "")
        if not address:
            refused.append(f"{sender}: ProbeMatch points at {match.xaddrs[:2]!r}, not at its "
                           "sender: ignored")
            continue
        found.append(Found(sender, address[:512], match.name[:64], match.hardware[:64],
                           match.location[:64]))
    return found, refused


def _host(url: str) -> str:
    try:
        return urllib.parse.unquote(urllib.parse.urlsplit(url).hostname or "")
    except ValueError:
        return ""


def lan_addresses() -> list[str]:
    """The box's IPv4 addresses on every interface but loopback."""
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                out.append(a.address)
    return sorted(set(out))


def probe(address: str | None = None, timeout_s: float = 3.0, port: int = WS_DISCOVERY_PORT
          ) -> list[Found]:
    """Devices answering within ``timeout_s``: at ``address`` (unicast), else multicast
    from every LAN interface. Deduplicated by device address."""
    found: dict[str, Found] = {}
    sources = ["0.0.0.0"] if address else (lan_addresses() or ["0.0.0.0"])
    socks = []
    for source in sources:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.bind((source, 0))
            if not address:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                socket.inet_aton(source))
            payload = build_probe(message_id=f"urn:uuid:{uuid.uuid4()}").encode()
            sock.sendto(payload, (address or WS_DISCOVERY_ADDRESS, port))
            socks.append(sock)
        except OSError as exc:
            logger.info("discovery: cannot probe from %s: %s", source, exc)
            sock.close()
    deadline = time.monotonic() + timeout_s
    try:
        while socks and time.monotonic() < deadline and len(found) < MAX_DEVICES:
            for sock in socks:
                sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
                try:
                    data, sender = sock.recvfrom(MAX_DATAGRAM)
                except (TimeoutError, BlockingIOError):
                    continue
                except OSError as exc:
                    logger.info("discovery: %s", exc)
                    continue
                accepted, refused = matches(data, str(sender[0]))
                for reason in refused:
                    logger.warning("discovery: %s", reason)
                for device in accepted:
                    found.setdefault(device.address, device)
    finally:
        for sock in socks:
            sock.close()
    return sorted(found.values(), key=lambda d: d.address)
