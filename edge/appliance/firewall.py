"""The box's nftables rules, written from the config (``edge firewall``). Pure.

Nothing comes in but what the appliance serves, and only from whom it serves it: SIP and
TCP media from the configured upper platforms, the web UI, SSH and NTP (the cameras'
time) from the LAN (private ranges unless told otherwise), the web UI also from ``[web].allow_from`` once an admin
password is set (until then a fresh box shows its setup page to the LAN only). Outgoing
traffic is not filtered: the box pulls cameras, reaches platforms, the broker and NTP.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from edge.config import EdgeConfig

# not 100.64.0.0/10: on 4G that is the carrier NAT, other customers' side
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


@dataclass(frozen=True)
class Peers:
    """Addresses the rules name: the platforms' (resolved) and the subnets allowed."""

    platforms: tuple[str, ...]
    lan: tuple[str, ...] = PRIVATE
    web_extra: tuple[str, ...] = ()


def render(cfg: EdgeConfig, peers: Peers, admin_exists: bool) -> str:
    sip, web = cfg.node.sip_port, cfg.web.port
    first, last = cfg.media.rtp_port_range[0], cfg.media.rtp_port_range[-1]
    v4 = sorted({a for a in peers.platforms if ipaddress.ip_address(a).version == 4})
    lan = sorted({str(ipaddress.ip_network(n, strict=False)) for n in peers.lan})
    web_from = sorted({str(ipaddress.ip_network(n, strict=False)) for n in peers.web_extra})
    lines = [
        "#!/usr/sbin/nft -f",
        "# 由 edge firewall 根据 /etc/edge/edge.toml 生成, 请勿手改",
        "# written by `edge firewall` from the config: edit the config, not this file",
        "table inet edge",
        "delete table inet edge",
        "table inet edge {",
        _set("platforms", v4, interval=False),
        _set("lan", lan, interval=True),
    ]
    if web_from and admin_exists:
        lines.append(_set("web_from", web_from, interval=True))
    lines += [
        "  chain input {",
        "    type filter hook input priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        "    iif lo accept",
        "    meta l4proto { icmp, ipv6-icmp } accept",
        "    udp sport 67 udp dport 68 accept comment \"DHCP\"",
        "    meta nfproto ipv6 udp sport 547 udp dport 546 accept comment \"DHCPv6\"",
    ]
    if v4:
        lines += [
            f"    ip saddr @platforms meta l4proto {{ udp, tcp }} th dport {sip} accept"
            " comment \"GB/T 28181 SIP\"",
            f"    ip saddr @platforms tcp dport {first}-{last} accept"
            " comment \"media, platform connecting (TCP passive)\"",
        ]
        if cfg.speakers:  # a broadcast's audio over UDP comes unasked, from the platform
            lines.append(f"    ip saddr @platforms udp dport {first}-{last} accept"
                         " comment \"broadcast audio (UDP)\"")
    lines += [
        "    ip saddr @lan tcp dport 22 accept comment \"SSH from the LAN\"",
        f"    ip saddr @lan tcp dport {web} accept comment \"web UI from the LAN\"",
    ]
    if cfg.time.camera_ntp != "off":  # chrony serves the cameras their time (统一时间)
        lines.append("    ip saddr @lan udp dport 123 accept comment \"NTP for the cameras\"")
    if web_from and admin_exists:
        lines.append(f"    ip saddr @web_from tcp dport {web} accept"
                     " comment \"web UI from [web].allow_from\"")
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def _set(name: str, elements: list[str], interval: bool) -> str:
    flags = " flags interval;" if interval else ""
    body = f" elements = {{ {', '.join(elements)} }};" if elements else ""
    return f"  set {name} {{ type ipv4_addr;{flags}{body} }}"
