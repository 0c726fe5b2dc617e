"""First boot of a freshly flashed box (``edge _firstboot``, run once by
``edge-firstboot.service`` after the shell part has grown the data partition and made the
SSH host keys): a node ID of its own, the web UI's TLS pair, the 4G APN, the firewall.

The image ships one template config for every box. Its node ID is the factory one; here
it becomes ``<region><type 118><7 digits from /etc/machine-id>`` so two new boxes never
register under the same ID (the technician sets the real one in the web UI's settings).
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

import tomlkit

from edge import config as config_mod

logger = logging.getLogger(__name__)

FACTORY_ID = "34020000001180000000"
TLS_DIR = Path("/etc/edge/tls")
NM_4G = Path("/etc/NetworkManager/system-connections/edge-4g.nmconnection")
FIREWALL = Path("/etc/nftables.conf")
def node_id_for(machine_id: str, factory: str = FACTORY_ID) -> str:
    """The factory ID's first 13 digits (region and type 118) and 7 from the machine ID."""
    number = int(hashlib.sha256(machine_id.strip().encode()).hexdigest(), 16) % 10_000_000
    return f"{factory[:13]}{number:07d}"


def run(config_path: Path, machine_id: str, tls_dir: Path = TLS_DIR, nm_4g: Path = NM_4G,
        firewall: Path | None = FIREWALL) -> list[str]:
    """Carry out the steps not done yet; what was done, for the journal."""
    done = []
    doc = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    node = doc["node"]
    if str(node.get("id")) == FACTORY_ID:  # type: ignore[union-attr]
        node["id"] = node_id_for(machine_id)  # type: ignore[index]
        done.append(f"node.id = {node['id']}")  # type: ignore[index]
    cert, key = tls_dir / "web.crt", tls_dir / "web.key"
    if not cert.exists():
        tls_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "3650", "-subj", f"/CN=edge-{str(node['id'])[-7:]}",  # type: ignore[index]
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        key.chmod(0o640)
        done.append(f"web TLS pair {cert}")
    web = doc.setdefault("web", tomlkit.table())
    if not web.get("tls_cert"):  # type: ignore[union-attr]
        web["tls_cert"], web["tls_key"] = str(cert), str(key)  # type: ignore[index]
    config_path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    cfg = config_mod.load(config_path)  # what we wrote must still be a valid config
    if nm_4g.exists() and "@APN@" in nm_4g.read_text():
        nm_4g.write_text(nm_4g.read_text().replace("@APN@", cfg.uplink.apn))
        done.append(f"4G APN {cfg.uplink.apn or '(automatic)'}")
    if firewall is not None:
        from edge.appliance.firewall import Peers, render

        firewall.write_text(render(cfg, Peers(()), admin_exists=False), encoding="utf-8")
        done.append(f"firewall {firewall} (the LAN only until platforms and an admin exist)")
    return done
