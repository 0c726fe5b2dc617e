"""Every boot, before the daemon (``edge _data-check``, edge-data-check.service, as root):
is the data partition mounted at the data directory? If not — the key file is gone, the
LUKS header is damaged, the disk is missing or its file system will not mount — nothing
is formatted (it may hold the only copy of the footage): the box records into a stand-in
directory on the root partition instead (minutes, not days: retention keeps the root's
reserve free), and says why on the console, in the journal, on the dashboard and as a
disk-fault alarm (edge/bootnotes.py reads the notes).

It also frees the root partition when it is nearly full (old journals, apt's cache): a
full root stops settings from saving and the journal from writing, and says so too."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edge.appliance.datacrypt import KEY, MOUNTPOINT, DeviceState, inspect
from edge.bootnotes import ROOT_NOTE, VOLUME_NOTE

STAND_IN = Path("/var/lib/edge-standin")
ROOT_FULL_PERCENT = 90.0  # used; above it the root is cleaned and the technician told
JOURNAL_KEEP = "64M"
AFTER_STAND_IN = ("edge.service", "edge-console.path", "edge-console.service")


@dataclass(frozen=True)
class Volume:
    """What was found where the data partition should be."""

    device: str | None            # the partition labelled edge-data, None where none is
    state: DeviceState | None
    key_exists: bool
    key_opens: bool | None        # None where not tried (not LUKS, or no key)


def diagnose(volume: Volume, key: Path = KEY) -> str:
    """Why the data partition is not mounted, for the technician (Chinese, then English)."""
    if volume.device is None:
        return ("没有找到数据分区 (硬盘未接或已损坏) no data partition found (disk missing or "
                "dead)")
    state = volume.state
    where = volume.device
    if state is not None and state.fs_type == "crypto_LUKS":
        if not volume.key_exists:
            return (f"{where}: 加密数据分区的密钥文件 {key} 丢失, 旧录像无法打开; 未做任何格式化, "
                    f"放回密钥文件后重启即可恢复 — the key file {key} of the encrypted data "
                    "partition is missing: its footage cannot be opened; nothing was formatted; "
                    "put the key file back and reboot")
        if not volume.key_opens:
            return (f"{where}: 本机密钥打不开该加密分区 (LUKS 头损坏或不是本机的盘), 未做任何格式化 — "
                    "this box's key does not open the encrypted partition (a damaged LUKS header "
                    "or another box's disk): nothing was formatted")
        return (f"{where}: 加密分区已打开但文件系统无法挂载 (需要 fsck) — the encrypted partition "
                "opens but its file system does not mount (it needs fsck)")
    if state is None or not state.fs_type:
        return (f"{where}: 数据分区上没有可识别的文件系统, 未做任何格式化 — no file system found on "
                "the data partition: nothing was formatted")
    return (f"{where}: 数据分区 ({state.fs_type}) 无法挂载 (需要 fsck) — the data partition "
            f"({state.fs_type}) does not mount (it needs fsck)")


def stand_in_text(reason: str) -> str:
    return (f"数据分区未挂载, 录像暂存系统分区 (只能保存几分钟), 请尽快处理 — the data partition is "
            f"not mounted; recording into the root partition for now (minutes only): {reason}")


def root_full_text(used_percent: float, free_mb: int, cleaned: list[str]) -> str:
    done = f"; 已清理 cleaned: {', '.join(cleaned)}" if cleaned else ""
    return (f"系统分区已用 {used_percent:.0f}% (剩余 {free_mb} MB): 设置可能无法保存, 日志可能丢失 — "
            f"the root file system is {used_percent:.0f} % full ({free_mb} MB free): settings may "
            f"not save, the journal may stop{done}")


def run(mountpoint: Path = MOUNTPOINT, key: Path = KEY) -> list[str]:
    """Check, fall back, clean; what was done or found, for the journal and console."""
    said = _check_root()
    if os.path.ismount(mountpoint):
        VOLUME_NOTE.unlink(missing_ok=True)
        return said
    found = subprocess.run(["blkid", "-t", "PARTLABEL=edge-data", "-o", "device"],
                           capture_output=True, text=True).stdout.split()
    volume = look(found[0] if found else None, key)
    text = stand_in_text(diagnose(volume, key))
    STAND_IN.mkdir(mode=0o750, exist_ok=True)
    shutil.chown(STAND_IN, "edge", "edge")
    subprocess.run(["mount", "--bind", str(STAND_IN), str(mountpoint)], check=True)
    _note(VOLUME_NOTE, text)
    # the units that need /var/lib/edge (edge.service through its StateDirectory= and
    # ReadWritePaths=, the console's path unit) already failed on the failed data mount,
    # before this ran: start them again now that the stand-in is there (no waiting: they
    # are ordered after this unit)
    subprocess.run(["systemctl", "--no-block", "start", *AFTER_STAND_IN], check=False)
    return [*said, text]


def look(device: str | None, key: Path) -> Volume:
    """What ``device`` holds and whether the box's key opens it (read-only)."""
    if device is None:
        return Volume(None, None, key.exists(), None)
    state = inspect(device)
    opens = None
    if state.fs_type == "crypto_LUKS" and key.exists():
        opens = subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-file", str(key),
                                device], capture_output=True).returncode == 0
    return Volume(device, state, key.exists(), opens)


def _check_root() -> list[str]:
    usage = shutil.disk_usage("/")
    used = 100.0 * (usage.total - usage.free) / usage.total
    if used < ROOT_FULL_PERCENT:
        ROOT_NOTE.unlink(missing_ok=True)
        return []
    cleaned = []
    if subprocess.run(["journalctl", f"--vacuum-size={JOURNAL_KEEP}"],
                      capture_output=True).returncode == 0:
        cleaned.append(f"journal > {JOURNAL_KEEP}")
    if subprocess.run(["apt-get", "clean"], capture_output=True).returncode == 0:
        cleaned.append("apt cache")
    usage = shutil.disk_usage("/")
    used = 100.0 * (usage.total - usage.free) / usage.total
    text = root_full_text(used, usage.free >> 20, cleaned)
    if used < ROOT_FULL_PERCENT:  # cleaning was enough: the journal says what it did
        ROOT_NOTE.unlink(missing_ok=True)
    else:
        _note(ROOT_NOTE, text)
    return [text]


def _note(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o755, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
