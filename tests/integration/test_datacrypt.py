"""LUKS2 on the data partition (edge/appliance/datacrypt.py), with the real cryptsetup on
a disk-image file: the format first boot runs, the key it makes, what unlocks the header
and what does not. Opening it (dm-crypt) and the ext4 inside need the device mapper,
which these containers do not have: that part runs on the box, not here."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from edge.appliance.datacrypt import (KEY_BYTES, MAPPER, cipher_args, crypttab_line,
                                      format_command, make_key, why_not)

ARM_AES = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n"
ARM_PLAIN = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"  # e.g. RK3566 lite


def cryptsetup(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("cryptsetup") is None:
        pytest.fail("cryptsetup is missing: apt-get install cryptsetup-bin (make test does)")
    return subprocess.run(["cryptsetup", *args], capture_output=True, text=True)


def test_first_boot_formats_luks2_that_only_the_box_key_opens(tmp_path: Path) -> None:
    disk, key, other = tmp_path / "data.img", tmp_path / "keys" / "data.key", tmp_path / "k2"
    with disk.open("wb") as f:
        f.truncate(64 << 20)
    make_key(key)
    assert len(key.read_bytes()) == KEY_BYTES
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    with pytest.raises(FileExistsError):  # never replaced: that would lose the footage
        make_key(key)

    res = subprocess.run(format_command(str(disk), key, ARM_AES), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert cryptsetup("isLuks", str(disk)).returncode == 0
    dump = cryptsetup("luksDump", str(disk)).stdout
    assert "Version:       \t2" in dump and "cipher: aes-xts-plain64" in dump
    assert f"Label:         \t{MAPPER}" in dump
    assert cryptsetup("open", "--test-passphrase", "--key-file", str(key), str(disk)).returncode == 0
    make_key(other)
    assert cryptsetup("open", "--test-passphrase", "--key-file", str(other),
                      str(disk)).returncode != 0
    uuid = cryptsetup("luksUUID", str(disk)).stdout.strip()
    assert crypttab_line(uuid, key) == f"edge-data UUID={uuid} {key} luks,discard,nofail\n"
    # the key never lands on the data disk
    assert key.read_bytes() not in disk.read_bytes()


def test_without_aes_instructions_adiantum_is_used() -> None:
    # (cryptsetup checks Adiantum through the device mapper, so it is not formatted here)
    assert cipher_args(ARM_AES)[1] == "aes-xts-plain64"
    assert cipher_args(ARM_PLAIN)[1] == "xchacha12,aes-adiantum-plain64"
    assert cipher_args("flags\t\t: fpu vme sse2 aes avx\n")[1] == "aes-xts-plain64"  # x86


def test_a_partition_with_anything_on_it_is_never_formatted() -> None:
    assert why_not(False, set()) is None
    assert why_not(False, {"lost+found", ".firstboot-done"}) is None
    assert "holds data" in str(why_not(False, {"lost+found", "edge.db", "recordings"}))
    assert why_not(True, set()) == "already LUKS"


def test_a_box_in_service_keeps_its_footage(tmp_path: Path) -> None:
    """encrypt() on a partition whose file system holds recordings: refused before any
    write (no key made, the disk and the crypttab untouched)."""
    from edge.appliance.datacrypt import EncryptError, encrypt

    disk, key, crypttab = tmp_path / "data.img", tmp_path / "keys" / "data.key", tmp_path / "ct"
    disk.write_bytes(b"ext4 with footage" * 1000)
    mountpoint = tmp_path / "var-lib-edge"
    (mountpoint / "recordings").mkdir(parents=True)
    (mountpoint / "edge.db").write_bytes(b"SQLite format 3\0")
    with pytest.raises(EncryptError, match="holds data"):
        encrypt(str(disk), key, crypttab, mountpoint)
    assert disk.read_bytes() == b"ext4 with footage" * 1000
    assert not key.exists() and not crypttab.exists()
