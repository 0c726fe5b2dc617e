"""Footage at rest (敏感视频图像信息不泄露): the data partition becomes LUKS2 at first boot.

``edge _encrypt-data DEVICE`` runs once, from edge-firstboot, on an image built with
``ENCRYPT_DATA=1`` (the default): the key is 64 random bytes made on this box
(``/etc/edge/keys/data.key``, root only, on the root partition), the partition is
formatted LUKS2 and opened as ``/dev/mapper/edge-data``, an ext4 is made inside, and
``/etc/crypttab`` opens it and ``/etc/fstab`` mounts it at every boot. A data disk taken out of the box holds nothing readable; the box
itself, booted, still unlocks it (see docs/appliance.md for the trade-offs).

Only the image's own empty file system (its fixed UUID, nothing in it) is ever formatted,
and that is read from the device, not from a mount point that may not be up yet: a box
already in service keeps its footage, unencrypted, and the journal says why.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edge.digits import is_digits

logger = logging.getLogger(__name__)

MAPPER = "edge-data"
# the LUKS header's own label differs from the ext4's inside: with both "edge-data",
# /dev/disk/by-label/edge-data pointed at the raw partition and nothing mounted after a reboot
LUKS_LABEL = "edge-data-crypt"
# the image's empty data file system (build-image.sh DATA_UUID): the only one ever formatted
IMAGE_DATA_UUID = "00000000-0000-4000-8000-0000000000e2"
KEY = Path("/etc/edge/keys/data.key")
CRYPTTAB = Path("/etc/crypttab")
FSTAB = Path("/etc/fstab")
MOUNTPOINT = Path("/var/lib/edge")
KEY_BYTES = 64
# the image's empty data file system holds only these
EMPTY_ENTRIES = {".", "..", "lost+found", ".firstboot-done"}


class EncryptError(Exception):
    """Why the data partition was left as it is."""


@dataclass(frozen=True)
class DeviceState:
    """What the data partition holds, read from the device itself (never from the mount
    point, which may not be mounted yet and then looks empty)."""

    fs_type: str                  # blkid's TYPE, "" for none
    fs_uuid: str
    entries: frozenset[str] | None  # names in its root directory; None where unreadable


def cipher_args(cpuinfo: str) -> list[str]:
    """AES-XTS where the CPU has AES instructions (most Cortex-A53/A55/A72 SoCs); Adiantum
    where it has not, which is several times faster than table AES there."""
    flags = {word for line in cpuinfo.splitlines() if line.lower().startswith(("features", "flags"))
             for word in line.split(":", 1)[-1].split()}
    if "aes" in flags:
        return ["--cipher", "aes-xts-plain64", "--key-size", "512"]
    return ["--cipher", "xchacha12,aes-adiantum-plain64", "--key-size", "256"]


def format_command(device: str, key: Path, cpuinfo: str) -> list[str]:
    # the key is 512 random bits: stretching it (argon2's default second and up to a GB of
    # memory, at every boot) would add nothing but boot time on a 2-GB box
    return ["cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode",
            *cipher_args(cpuinfo), "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
            "--label", LUKS_LABEL, "--key-file", str(key), device]


def crypttab_line(luks_uuid: str, key: Path) -> str:
    # nofail: a missing data disk must not stop the box from booting (edge-data-check then
    # says so and records into a stand-in); headless: a missing key file must not turn into
    # a password prompt that nobody at a village box will ever answer
    return f"{MAPPER} UUID={luks_uuid} {key} luks,discard,nofail,headless=true\n"


def fstab_for_mapper(fstab: str, mountpoint: Path = MOUNTPOINT) -> str:
    """``fstab`` with the data mount's source the opened volume, /dev/mapper/edge-data."""
    lines = []
    for line in fstab.splitlines(keepends=True):
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and fields[1] == str(mountpoint):
            line = f"/dev/mapper/{MAPPER}  {mountpoint}  ext4  defaults,noatime,nofail  0 2\n"
        lines.append(line)
    return "".join(lines)


def parse_debugfs_ls(out: str) -> frozenset[str]:
    """Names from ``debugfs -R 'ls -p /'`` lines: ``/inode/mode/uid/gid/name/size/`` (a
    directory's size is empty); a name never holds "/"."""
    names = set()
    for line in out.splitlines():
        fields = line.strip().split("/")
        if len(fields) == 8 and fields[0] == "" and is_digits(fields[1]):
            names.add(fields[5])
    return frozenset(names)


def why_not(state: DeviceState) -> str | None:
    """None if the partition may be formatted, else why it is left alone."""
    if state.fs_type == "crypto_LUKS":
        return "already LUKS"
    if state.fs_type != "ext4" or state.fs_uuid != IMAGE_DATA_UUID:
        found = f"{state.fs_type or 'no file system'} {state.fs_uuid}".strip()
        return f"it is not the image's empty file system ({found}): left as it is, nothing erased"
    if state.entries is None:
        return "its file system could not be read: left as it is, nothing erased"
    extra = sorted(state.entries - EMPTY_ENTRIES)
    if extra:
        return f"it holds data ({', '.join(extra[:5])}): left unencrypted, nothing erased"
    return None


def make_key(path: Path) -> None:
    """64 random bytes, readable by root alone, written once."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(KEY_BYTES))
        out.flush()
        os.fsync(out.fileno())
    _fsync_dir(path.parent)


def inspect(device: str) -> DeviceState:
    """The partition's file system and root entries, read from the device (debugfs reads
    a mounted or unmounted ext4 alike, read-only)."""
    probe = _run(["blkid", "-p", "-o", "export", device], check=False).stdout
    tags = dict(line.split("=", 1) for line in probe.splitlines() if "=" in line)
    fs_type, fs_uuid = tags.get("TYPE", ""), tags.get("UUID", "")
    entries = None
    if fs_type == "ext4":
        res = _run(["debugfs", "-R", "ls -p /", device], check=False)
        entries = parse_debugfs_ls(res.stdout) if res.returncode == 0 and res.stdout else None
    return DeviceState(fs_type, fs_uuid, entries)


def encrypt(device: str, key: Path = KEY, crypttab: Path = CRYPTTAB, fstab: Path = FSTAB,
            mountpoint: Path = MOUNTPOINT, owner: str = "edge") -> list[str]:
    """Make ``device`` LUKS2 with an ext4 inside, mounted at ``mountpoint``; what was done.
    A volume this box's key opens but whose set-up a power cut interrupted is finished.
    Raises EncryptError when the partition is left alone."""
    state = inspect(device)
    if state.fs_type == "crypto_LUKS" and key.exists():
        return _finish(device, key, crypttab, fstab, mountpoint, owner)
    reason = why_not(state)
    if reason is not None:
        raise EncryptError(f"{device}: {reason}")
    for target in _run(["findmnt", "-rn", "-o", "TARGET", "-S", device], check=False).stdout.split():
        _run(["umount", target])
    if not key.exists():
        make_key(key)
    command = format_command(device, key, Path("/proc/cpuinfo").read_text())
    try:
        _run(["wipefs", "--all", device])
        _run(command)
    except EncryptError:
        # the empty file system is gone: make it again, so that the box records (unencrypted)
        _run(["mkfs.ext4", "-q", "-F", "-m", "1", "-L", MAPPER, device])
        _run(["mount", device, str(mountpoint)])
        _run(["chown", f"{owner}:{owner}", str(mountpoint)])
        raise
    _run(["sync"])
    done = _finish(device, key, crypttab, fstab, mountpoint, owner)
    return [f"{device} is LUKS2 ({command[command.index('--cipher') + 1]}), " + done[0]]


def _finish(device: str, key: Path, crypttab: Path, fstab: Path, mountpoint: Path,
            owner: str) -> list[str]:
    """Open the volume with the box's key, make its ext4 if it has none, and write the
    crypttab and fstab lines (each fsynced) before mounting it."""
    mapped = f"/dev/mapper/{MAPPER}"
    tried = _run(["cryptsetup", "open", "--test-passphrase", "--key-file", str(key), device],
                 check=False)
    if tried.returncode != 0:  # a corrupted header, or not this box's volume
        raise EncryptError(f"{device}: a LUKS volume this box's key does not open "
                           f"({tried.stderr.strip()[-200:]}): left as it is, nothing erased")
    if not Path(mapped).exists():
        _run(["cryptsetup", "open", "--key-file", str(key), "--allow-discards", device, MAPPER])
    inner = _run(["blkid", "-p", "-o", "value", "-s", "TYPE", mapped], check=False).stdout.strip()
    if not inner:
        _run(["mkfs.ext4", "-q", "-m", "1", "-L", MAPPER, mapped])
    elif inner != "ext4":
        raise EncryptError(f"{mapped} holds {inner}, not ext4: left as it is, nothing erased")
    luks_uuid = _run(["cryptsetup", "luksUUID", device]).stdout.strip()
    lines = [line for line in (crypttab.read_text().splitlines(keepends=True)
                               if crypttab.exists() else []) if not line.startswith(MAPPER + " ")]
    _write_synced(crypttab, "".join(lines) + crypttab_line(luks_uuid, key))
    _write_synced(fstab, fstab_for_mapper(fstab.read_text() if fstab.exists() else "", mountpoint))
    if _run(["mountpoint", "-q", str(mountpoint)], check=False).returncode != 0:
        _run(["mount", mapped, str(mountpoint)])
    _run(["chown", f"{owner}:{owner}", str(mountpoint)])
    return [f"key {key}, opened at boot by {crypttab}, mounted from {mapped} by {fstab}"]


def _write_synced(path: Path, text: str) -> None:
    """Replace ``path`` whole and durably: a power cut leaves the old file or the new."""
    tmp = path.with_name(path.name + ".new")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise EncryptError(f"{' '.join(argv[:2])} failed (exit {res.returncode}): "
                           f"{(res.stderr or res.stdout).strip()[-300:]}")
    return res
