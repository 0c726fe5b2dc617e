"""The box's firewall rules from the config: platforms only for SIP and media, the LAN
for SSH and the web UI, extra subnets for the web UI only once an admin exists."""

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.appliance.firewall import Peers, render
from edge.config import SpeakerConfig
from edge.config import parse as parse_config

CFG = parse_config({
    "node": {"id": "34020000001180000001", "sip_port": 5062},
    "platforms": [{"id": "34020000002000000001", "host": "city.example"}],
    "media": {"rtp_port_range": [31000, 31099]},
    "web": {"port": 8443, "allow_from": ["10.20.0.0/16"]},
})
PEERS = Peers(("203.0.113.7", "203.0.113.8"), web_extra=("10.20.0.0/16",))


def test_sip_and_media_only_from_the_platforms() -> None:
    text = render(CFG, PEERS, admin_exists=True)
    assert "elements = { 203.0.113.7, 203.0.113.8 }" in text
    assert "ip saddr @platforms meta l4proto { udp, tcp } th dport 5062 accept" in text
    assert "ip saddr @platforms tcp dport 31000-31099 accept" in text
    assert "policy drop" in text and "100.64.0.0/10" not in text  # not the carrier's side
    assert "ip saddr @lan tcp dport 22 accept" in text
    assert "ip saddr @web_from tcp dport 8443 accept" in text
    assert "udp dport 31000" not in text  # no speakers: no audio comes in unasked


def test_a_box_with_speakers_takes_the_platforms_broadcast_audio_over_udp() -> None:
    cfg = dataclasses.replace(CFG, speakers=(SpeakerConfig("34020000001370000001", "喇叭"),))
    assert "ip saddr @platforms udp dport 31000-31099 accept" in render(cfg, PEERS, True)


def test_before_an_admin_exists_the_web_ui_is_for_the_lan_only() -> None:
    text = render(CFG, PEERS, admin_exists=False)
    assert "web_from" not in text and "ip saddr @lan tcp dport 8443 accept" in text


def test_the_cameras_get_their_time_from_the_box_on_the_lan_only() -> None:
    text = render(CFG, PEERS, admin_exists=True)
    assert "ip saddr @lan udp dport 123 accept" in text
    assert text.count("dport 123") == 1  # from nowhere else
    off = parse_config({"node": {"id": "34020000001180000001"}, "time": {"camera_ntp": "off"}})
    assert "dport 123" not in render(off, Peers(()), admin_exists=True)


def test_no_platform_no_sip_rule() -> None:
    text = render(CFG, Peers(()), admin_exists=True)
    assert "dport 5062" not in text and "set platforms { type ipv4_addr; }" in text


@pytest.mark.parametrize("admin", [True, False])
def test_nft_accepts_the_rules(tmp_path: Path, admin: bool) -> None:
    if shutil.which("nft") is None:
        pytest.fail("nft is missing: apt-get install nftables (the Makefile's test packages)")
    path = tmp_path / "edge.nft"
    path.write_text(render(CFG, PEERS, admin))
    res = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
