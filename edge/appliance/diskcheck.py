"""The root-side collector of the data disk's health (``edge _disk-health``, run by
edge-disk-health.timer as root: the daemon's sandbox has no raw device access). It finds
the disk under the data directory (through the LUKS mapper and the partition), asks
``smartctl`` or ``mmc`` and the kernel's log, and writes ``<data_dir>/disk-health.json``
(edge/health/disk.py decides what it means)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from edge import bootnotes
from edge.health.disk import (HEALTH_FILE, DiskHealth, count_io_errors, from_extcsd, from_kernel,
                              from_smartctl, parse_count, worst)

TOOL_TIMEOUT_S = 60.0


def underlying_disk(lsblk: dict[str, Any]) -> str | None:
    """The whole disk under a device, from ``lsblk --json --inverse -o NAME,TYPE``."""
    stack = list(lsblk.get("blockdevices") or [])
    while stack:
        dev = stack.pop()
        if not isinstance(dev, dict):
            continue
        if dev.get("type") == "disk" and isinstance(dev.get("name"), str):
            return str(dev["name"])
        stack.extend(dev.get("children") or [])
    return None


def collect(data_dir: Path, now: float) -> DiskHealth:
    source = _tool(["findmnt", "-no", "SOURCE", "--target", str(data_dir)]).strip()
    if not source.startswith("/dev/"):
        return with_boot_notes(DiskHealth(source or "?", "unknown",
                                          ("没有块设备 no block device",), {}, now))
    try:
        disk = underlying_disk(json.loads(_tool(["lsblk", "--json", "--inverse", "-o",
                                                 "NAME,TYPE", source]) or "{}"))
    except ValueError:
        disk = None
    if disk is None:
        return with_boot_notes(DiskHealth(source, "unknown", ("找不到磁盘 no disk under it",), {},
                                          now))
    if disk.startswith("mmcblk") and shutil.which("mmc"):
        state, reasons, facts = from_extcsd(_tool(["mmc", "extcsd", "read", f"/dev/{disk}"]))
        facts["kind"] = "eMMC"
    elif shutil.which("smartctl"):
        out = _tool(["smartctl", "--json", "-H", "-A", "-i", f"/dev/{disk}"])
        try:
            state, reasons, facts = from_smartctl(json.loads(out) if out else {})
        except ValueError:
            state, reasons, facts = "unknown", [], {}
        facts["kind"] = "SMART" if state != "unknown" else "no SMART"
    else:
        state, reasons, facts = "unknown", [], {"kind": "no tool"}
    kernel_log = _tool(["journalctl", "-k", "-b", "--no-pager", "-o", "cat"])
    io_errors = count_io_errors(kernel_log, disk)
    fs = Path(os.path.realpath(source)).name
    try:
        fs_errors = parse_count(Path(f"/sys/fs/ext4/{fs}/errors_count").read_text())
    except OSError:
        fs_errors = 0
    kernel_state, kernel_reasons = from_kernel(io_errors, fs_errors)
    facts.update(io_errors=io_errors, fs_errors=fs_errors)
    return with_boot_notes(DiskHealth(f"/dev/{disk}", worst(state, kernel_state),
                                      tuple(reasons + kernel_reasons), facts, now))


def with_boot_notes(health: DiskHealth) -> DiskHealth:
    """The data partition not in use this boot fails the disk (it alarms until mended);
    a nearly full root warns."""
    state, reasons, facts = health.state, list(health.reasons), dict(health.facts)
    if (volume := bootnotes.stand_in()) is not None:
        state, reasons, facts["stand_in"] = "failing", [volume, *reasons], True
    if (root := bootnotes.root_full()) is not None:
        state, reasons = worst(state, "warning"), [*reasons, root]
    return DiskHealth(health.device, state, tuple(reasons), facts, health.checked_ts)


def write(data_dir: Path, health: DiskHealth) -> Path:
    """Whole or not at all, readable by the daemon."""
    path = data_dir / HEALTH_FILE
    tmp = path.with_name(HEALTH_FILE + ".new")
    tmp.write_text(health.to_json(), encoding="utf-8")
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return path


def run(data_dir: Path) -> DiskHealth:
    health = collect(data_dir, time.time())
    write(data_dir, health)
    return health


def _tool(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
