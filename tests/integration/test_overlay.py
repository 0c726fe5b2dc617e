"""The firmware overlay: the template config is valid, first boot makes it the box's own
(node ID, web TLS pair, APN, firewall) and stays valid, the scripts parse, the firewall it
ships loads in nft, and every unit names what the image installs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edge import config as config_mod
from edge.appliance.firstboot import FACTORY_ID, node_id_for, run
from edge.cli import _parser
from edge.gbid import NODE_TYPES, check_gb_id

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "firmware-overlay"


def test_the_template_config_is_valid_and_has_the_factory_id() -> None:
    cfg = config_mod.load(OVERLAY / "etc" / "edge" / "edge.toml")
    assert cfg.node.id == FACTORY_ID and cfg.update.public_key == "/etc/edge/update.pub"


def test_first_boot_makes_the_box_its_own(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    shutil.copy(OVERLAY / "etc" / "edge" / "edge.toml", config)
    text = config.read_text().replace('apn = ""', 'apn = "cmiot"')
    config.write_text(text)
    nm = tmp_path / "edge-4g.nmconnection"
    shutil.copy(OVERLAY / "etc" / "NetworkManager" / "system-connections" / nm.name, nm)
    firewall = tmp_path / "nftables.conf"
    done = run(config, "5f2c0e1d9a8b4c7d\n", tmp_path / "tls", nm, firewall)
    cfg = config_mod.load(config)  # still valid, and the comments kept
    assert cfg.node.id == node_id_for("5f2c0e1d9a8b4c7d") != FACTORY_ID
    assert check_gb_id(cfg.node.id, NODE_TYPES) is None
    assert "# 20 位国标编号" in config.read_text()
    assert cfg.web.tls_cert == str(tmp_path / "tls" / "web.crt")
    assert (tmp_path / "tls" / "web.key").stat().st_mode & 0o077 == 0o040
    assert "apn=cmiot" in nm.read_text()
    assert len(done) == 4
    assert run(config, "5f2c0e1d9a8b4c7d\n", tmp_path / "tls", nm, firewall) == [
        f"firewall {firewall} (the LAN only until platforms and an admin exist)"]  # once
    if shutil.which("nft"):
        res = subprocess.run(["nft", "-c", "-f", str(firewall)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    assert node_id_for("another box") != cfg.node.id


def test_shipped_firewall_loads_and_scripts_parse() -> None:
    if shutil.which("nft") is None:
        pytest.fail("nft is missing: apt-get install nftables (the Makefile's test packages)")
    res = subprocess.run(["nft", "-c", "-f", str(OVERLAY / "etc" / "nftables.conf")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for script in (OVERLAY / "usr" / "local" / "sbin").iterdir():
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        res = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert res.returncode == 0, f"{script.name}: {res.stderr}"


def test_units_point_at_what_the_image_installs() -> None:
    units = ROOT / "systemd"
    for unit in units.iterdir():
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart"):
                command = line.split("=", 1)[1].split()[0]
                if command.startswith("/usr/local/sbin/"):
                    assert (OVERLAY / command.lstrip("/")).exists(), f"{unit.name}: {command}"
                # edge's own parser takes it (rollback: the old slot, edge-update-recover)
                elif command in ("/opt/edge/venv/bin/edge", "/opt/edge/rollback/bin/edge"):
                    _parser().parse_args(line.split("=", 1)[1].split()[1:])
                else:  # from a Debian package of the image
                    assert command.startswith(("/usr/sbin/", "/usr/bin/")), command
    # a timer or path unit only works once enabled
    build = (ROOT / "build-image.sh").read_text()
    for unit in units.iterdir():
        if unit.suffix in (".timer", ".path"):
            assert f" {unit.name}" in build, f"{unit.name} is not enabled in build-image.sh"
    service = (units / "edge.service").read_text()
    assert "ExecStart=/opt/edge/venv/bin/edge run --config /etc/edge/edge.toml" in service
    journald = (OVERLAY / "etc" / "systemd" / "journald.conf.d" / "50-edge.conf").read_text()
    assert "SystemMaxUse=" in journald
    sshd = (OVERLAY / "etc" / "ssh" / "sshd_config.d" / "50-edge.conf").read_text()
    assert "PasswordAuthentication no" in sshd


def test_the_settings_the_web_ui_saves_are_where_the_daemon_may_write() -> None:
    """On the box the daemon writes only what ReadWritePaths names; saving settings from the
    web UI (an atomic rename) needs the config's directory: /etc/edge/edge.toml is a link
    into /etc/edge/settings, which holds the config alone (the boot test saves through it;
    before, the save was a 500 on the box)."""
    link = OVERLAY / "etc" / "edge" / "edge.toml"
    assert link.is_symlink() and str(link.readlink()) == "settings/edge.toml"
    assert [p.name for p in (OVERLAY / "etc" / "edge" / "settings").iterdir()] == ["edge.toml"]
    service = (ROOT / "systemd" / "edge.service").read_text()
    assert "ReadWritePaths=/var/lib/edge /etc/edge/settings" in service
