"""Footage at rest (敏感视频图像信息不泄露): the data partition becomes LUKS2 at first boot.

``edge _encrypt-data DEVICE`` runs once, from edge-firstboot, on an image built with
``ENCRYPT_DATA=1`` (the default): the key is 64 random bytes made on this box
(``/etc/edge/keys/data.key``, root only, on the root partition), the partition is
formatted LUKS2 and opened as ``/dev/mapper/edge-data``, an ext4 labelled ``edge-data``
is made inside (so fstab's ``LABEL=edge-data`` line stays as it is), and ``/etc/crypttab``
opens it at every boot. A data disk taken out of the box holds nothing readable; the box
itself, booted, still unlocks it (see docs/appliance.md for the trade-offs).

A partition that holds anything beyond the image's empty file system is never formatted:
a box already in service keeps its footage, unencrypted, and the journal says why.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

MAPPER = "edge-data"
KEY = Path("/etc/edge/keys/data.key")
CRYPTTAB = Path("/etc/crypttab")
MOUNTPOINT = Path("/var/lib/edge")
KEY_BYTES = 64
# the image's empty data file system holds only these
EMPTY_ENTRIES = {"lost+found", ".firstboot-done"}


class EncryptError(Exception):
    """Why the data partition was left as it is."""


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
            "--label", MAPPER, "--key-file", str(key), device]


def crypttab_line(luks_uuid: str, key: Path) -> str:
    # nofail: a missing data disk must not stop the box from booting (edge.service then
    # does not start: RequiresMountsFor=/var/lib/edge, so it never records onto the root)
    return f"{MAPPER} UUID={luks_uuid} {key} luks,discard,nofail\n"


def why_not(is_luks: bool, entries: set[str]) -> str | None:
    """None if the partition may be formatted, else why it is left alone."""
    if is_luks:
        return "already LUKS"
    extra = sorted(entries - EMPTY_ENTRIES)
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


def encrypt(device: str, key: Path = KEY, crypttab: Path = CRYPTTAB,
            mountpoint: Path = MOUNTPOINT, owner: str = "edge") -> list[str]:
    """Make ``device`` LUKS2 with an ext4 inside, mounted at ``mountpoint``; what was done.
    Raises EncryptError when it is left alone."""
    is_luks = _run(["cryptsetup", "isLuks", device], check=False).returncode == 0
    entries = {p.name for p in mountpoint.iterdir()} if mountpoint.is_dir() else set()
    reason = why_not(is_luks, entries)
    if reason is not None:
        raise EncryptError(f"{device}: {reason}")
    if _run(["mountpoint", "-q", str(mountpoint)], check=False).returncode == 0:
        _run(["umount", str(mountpoint)])
    if not key.exists():
        make_key(key)
    command = format_command(device, key, Path("/proc/cpuinfo").read_text())
    mapped = f"/dev/mapper/{MAPPER}"
    try:
        _run(["wipefs", "--all", device])
        _run(command)
        luks_uuid = _run(["cryptsetup", "luksUUID", device]).stdout.strip()
        _run(["cryptsetup", "open", "--key-file", str(key), "--allow-discards", device, MAPPER])
        _run(["mkfs.ext4", "-q", "-m", "1", "-L", MAPPER, mapped])
    except EncryptError:
        # the empty file system is gone: make it again, so that the box records (unencrypted)
        _run(["cryptsetup", "close", MAPPER], check=False)
        _run(["mkfs.ext4", "-q", "-F", "-m", "1", "-L", MAPPER, device])
        _run(["mount", device, str(mountpoint)])
        _run(["chown", f"{owner}:{owner}", str(mountpoint)])
        raise
    lines = [line for line in (crypttab.read_text().splitlines(keepends=True)
                               if crypttab.exists() else []) if not line.startswith(MAPPER + " ")]
    crypttab.write_text("".join(lines) + crypttab_line(luks_uuid, key))
    _run(["mount", mapped, str(mountpoint)])
    _run(["chown", f"{owner}:{owner}", str(mountpoint)])
    return [f"{device} is LUKS2 ({command[command.index('--cipher') + 1]}), key {key}, "
            f"opened at boot by {crypttab}"]


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise EncryptError(f"{' '.join(argv[:2])} failed (exit {res.returncode}): "
                           f"{(res.stderr or res.stdout).strip()[-300:]}")
    return res
