"""Facts about the box: CPU, memory, temperatures, disk, clock, uplink and 4G modem.

Read with psutil and /proc; ModemManager's ``mmcli`` and systemd's ``timedatectl`` are
asked only where they exist. What a box does not have is reported as absent (null or
{}), never as an error.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import psutil

from edge.config import StorageConfig
from edge.digits import is_digits
from edge.health.disk import read as read_disk_health

logger = logging.getLogger(__name__)

TOOL_TIMEOUT_S = 3.0
MODEM_KEYS = {  # mmcli -K key -> our name
    "modem.generic.state": "state",
    "modem.generic.access-technologies.value[1]": "access_technology",
    "modem.generic.signal-quality.value": "signal_quality_percent",
    "modem.3gpp.operator-name": "operator",
    "modem.3gpp.registration-state": "registration",
    "modem.generic.equipment-identifier": "imei",
}
SIGNAL_KEYS = {  # mmcli --signal-get -K (LTE; filled once signal polling is set up)
    "modem.signal.lte.rsrp": "rsrp_dbm", "modem.signal.lte.rsrq": "rsrq_db",
    "modem.signal.lte.snr": "sinr_db", "modem.signal.lte.rssi": "rssi_dbm",
}
_DECIMAL = re.compile(r"-?[0-9]{1,4}(\.[0-9]{1,3})?")


def system_facts(pids: list[int]) -> dict[str, Any]:
    mem = psutil.virtual_memory()
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),  # since the previous call
        "load": [round(x, 2) for x in os.getloadavg()],
        "memory": {"total_bytes": mem.total, "available_bytes": mem.available,
                   "percent": mem.percent, "edge_pss_bytes": _pss(pids)},
        "temperatures_c": _temperatures(),
    }


def disk_facts(data_dir: Path, storage: StorageConfig) -> dict[str, Any]:
    usage = shutil.disk_usage(data_dir)
    free_percent = 100.0 * usage.free / usage.total if usage.total else 0.0
    low = free_percent < storage.min_free_percent or usage.free < storage.min_free_gb * 1e9
    health = read_disk_health(data_dir)
    return {"path": str(data_dir), "total_bytes": usage.total, "free_bytes": usage.free,
            "free_percent": round(free_percent, 2), "watermark": "low" if low else "ok",
            "health": None if health is None else {
                "device": health.device, "state": health.state, "reasons": list(health.reasons),
                "checked_ts": health.checked_ts}}


def uplink_facts(interface: str = "", modem: bool = True) -> dict[str, Any]:
    """The uplink interface (``interface``, else the default route's) and its counters;
    the modem unless ``modem`` is false (the uplink runner reads it once a minute)."""
    iface = interface or default_route_interface()
    address = sent = recv = None
    if iface:
        address = interface_address(iface)
        counters = interface_counters(iface)
        if counters:
            sent, recv = counters.bytes_sent, counters.bytes_recv
    return {"interface": iface, "address": address, "bytes_sent": sent, "bytes_recv": recv,
            "modem": modem_facts() if modem else None}


def interface_address(iface: str) -> str | None:
    """The interface's IPv4 address; None where it has none or where it cannot be read
    (getifaddrs needs netlink: a unit without AF_NETLINK, a kernel without it)."""
    try:
        addresses = psutil.net_if_addrs().get(iface, [])
    except OSError as exc:
        _unavailable("interface addresses", exc)
        return None
    return next((a.address for a in addresses if a.family == socket.AF_INET), None)


_said: set[str] = set()


def _unavailable(what: str, exc: OSError) -> None:
    """Say once per process that a fact cannot be read here, and why; it is then absent."""
    if what not in _said:
        _said.add(what)
        logger.warning("health: %s 无法读取 unavailable here (%s): reported as absent", what, exc)


def interface_counters(iface: str) -> Any:
    """psutil's byte counters of ``iface`` (from /proc/net/dev), None where unreadable."""
    try:
        return psutil.net_io_counters(pernic=True).get(iface)
    except OSError as exc:
        _unavailable("interface counters", exc)
        return None


def default_route_interface() -> str | None:
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 1 and fields[1] == "00000000":
            return fields[0]
    return None


def modem_facts() -> dict[str, Any] | None:
    """The first modem ModemManager knows, or None without mmcli or a modem."""
    out = _tool(["mmcli", "-m", "any", "-K"])
    if out is None:
        return None
    return parse_mmcli(out + "\n" + (_tool(["mmcli", "-m", "any", "--signal-get", "-K"]) or ""))


def parse_mmcli(out: str) -> dict[str, Any] | None:
    """``mmcli -K`` lines (``key : value``, ``--`` for unknown) -> our modem facts."""
    facts: dict[str, Any] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if (signal := SIGNAL_KEYS.get(key.strip())) and _DECIMAL.fullmatch(value):
            facts[signal] = float(value)
            continue
        name = MODEM_KEYS.get(key.strip())
        if name and value and value != "--":
            # only the signal is a number; an IMEI is digits but an identifier
            if name == "signal_quality_percent":
                if is_digits(value) and len(value) <= 3:
                    facts[name] = int(value)
            else:
                facts[name] = value
    return facts or None


def ntp_synchronized() -> bool | None:
    out = _tool(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    return None if out is None else out.strip() == "yes"


def _tool(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.info("health: %s did not answer: %s", argv[0], exc)
        return None
    return res.stdout if res.returncode == 0 else None


def _temperatures() -> dict[str, float]:
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return {}
    out: dict[str, float] = {}
    for chip, sensors in read().items():
        for i, sensor in enumerate(sensors):
            out[f"{chip}/{sensor.label or i}"] = round(sensor.current, 1)
    return out


def _pss(pids: list[int]) -> int | None:
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_full_info().pss
        except (psutil.Error, AttributeError):
            return None
    return total
