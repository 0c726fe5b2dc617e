"""The technician's local ways in: what the box's screen says (edge/appliance/console.py)
and which SSH keys a USB stick may give it (edge/appliance/usbstick.py)."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import replace
from pathlib import Path

from edge import config
from edge.appliance.console import screen_text
from edge.appliance.usbstick import add_keys, key_lines


def cfg(tls: bool) -> config.EdgeConfig:
    lines = ['[node]', 'id = "34020000001180000001"', 'data_dir = "/var/lib/edge"']
    plain = config.parse(config.parse_toml("\n".join(lines).encode(), "x"))
    if not tls:
        return plain
    return replace(plain, web=replace(plain.web, tls_cert="/etc/edge/tls/web.crt",
                                      tls_key="/etc/edge/tls/web.key"))


def test_the_screen_names_the_address_and_the_token_until_set_up() -> None:
    text = screen_text(cfg(True), "a1b2c3d4e5f6", [], "\\4")
    assert "https://\\4:8080/setup" in text and "set-up token: a1b2c3d4e5f6" in text
    assert "34020000001180000001" in text
    done = screen_text(cfg(True), None, ["数据分区未加密 left unencrypted"], "192.168.1.20")
    assert "https://192.168.1.20:8080/" in done and "token" not in done
    assert "注意 note: 数据分区未加密 left unencrypted" in done
    assert "http://10.0.0.5:8080/setup" in screen_text(cfg(False), "x", [], "10.0.0.5")


def real_key(tmp_path: Path, kind: str) -> str:
    path = tmp_path / kind
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def test_only_well_formed_public_keys_without_options_are_taken(tmp_path: Path) -> None:
    ed, rsa = real_key(tmp_path, "ed25519"), real_key(tmp_path, "rsa")
    forged = "ssh-ed25519 " + base64.b64encode(b"\0\0\0\x07ssh-rsa" + b"x" * 40).decode()
    text = "\n".join([
        "# the technician's keys", ed, "", f'command="/bin/sh",from="*" {rsa}',
        "ssh-ed25519 not-base64!!", forged, "ssh-dss AAAAB3NzaC1kc3M= old", rsa,
    ])
    assert key_lines(text) == [ed, rsa]
    assert len(key_lines("\n".join([ed] * 40))) == 16


def test_keys_are_added_once(tmp_path: Path) -> None:
    ed = real_key(tmp_path, "ed25519")
    target = tmp_path / "root" / ".ssh" / "authorized_keys"
    assert add_keys([ed], target) == 1 and add_keys([ed], target) == 0
    assert target.read_text() == ed + "\n" and target.stat().st_mode & 0o777 == 0o600
