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

from edge.appliance.datacheck import diagnose, look, stand_in_text
from edge.appliance.datacrypt import (IMAGE_DATA_UUID, KEY_BYTES, LUKS_LABEL, MAPPER,
                                      DeviceState, EncryptError, cipher_args, crypttab_line,
                                      encrypt, format_command, fstab_for_mapper, inspect,
                                      make_key, why_not)

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
    # not the label of the ext4 inside: /dev/disk/by-label/edge-data must name that one
    assert f"Label:         \t{LUKS_LABEL}" in dump and LUKS_LABEL != MAPPER
    assert cryptsetup("open", "--test-passphrase", "--key-file", str(key), str(disk)).returncode == 0
    make_key(other)
    assert cryptsetup("open", "--test-passphrase", "--key-file", str(other),
                      str(disk)).returncode != 0
    uuid = cryptsetup("luksUUID", str(disk)).stdout.strip()
    assert crypttab_line(uuid, key) == (
        f"edge-data UUID={uuid} {key} luks,discard,nofail,headless=true\n")
    # the key never lands on the data disk
    assert key.read_bytes() not in disk.read_bytes()


def test_without_aes_instructions_adiantum_is_used() -> None:
    # (cryptsetup checks Adiantum through the device mapper, so it is not formatted here)
    assert cipher_args(ARM_AES)[1] == "aes-xts-plain64"
    assert cipher_args(ARM_PLAIN)[1] == "xchacha12,aes-adiantum-plain64"
    assert cipher_args("flags\t\t: fpu vme sse2 aes avx\n")[1] == "aes-xts-plain64"  # x86


def ext4(path: Path, uuid: str, files: dict[str, bytes]) -> Path:
    """A real ext4 image holding ``files`` (as mkfs.ext4 -d lays them)."""
    content = path.parent / (path.name + ".d")
    content.mkdir()
    for name, data in files.items():
        (content / name).parent.mkdir(parents=True, exist_ok=True)
        (content / name).write_bytes(data)
    res = subprocess.run(["mkfs.ext4", "-q", "-U", uuid, "-d", str(content), str(path), "8M"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return path


def test_only_the_image_empty_file_system_may_be_formatted(tmp_path: Path) -> None:
    """What the partition holds is read from the device itself (a mount point not yet
    mounted looks empty): the image's empty ext4 may go, anything else stays."""
    empty = inspect(str(ext4(tmp_path / "empty.img", IMAGE_DATA_UUID, {})))
    assert empty == DeviceState("ext4", IMAGE_DATA_UUID, frozenset({".", "..", "lost+found"}))
    assert why_not(empty) is None
    used = inspect(str(ext4(tmp_path / "used.img", IMAGE_DATA_UUID,
                            {"edge.db": b"SQLite format 3\0", "recordings/x/a.mp4": b"x"})))
    assert "holds data (edge.db, recordings)" in str(why_not(used))
    foreign = inspect(str(ext4(tmp_path / "foreign.img", "5d2ac0de-0000-4000-8000-000000000001", {})))
    assert "not the image's empty file system (ext4 5d2ac0de" in str(why_not(foreign))
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(1 << 20))
    assert "no file system" in str(why_not(inspect(str(blank))))
    assert why_not(DeviceState("crypto_LUKS", "x", None)) == "already LUKS"
    assert "could not be read" in str(why_not(DeviceState("ext4", IMAGE_DATA_UUID, None)))


def test_a_box_in_service_keeps_its_footage(tmp_path: Path) -> None:
    """encrypt() on a partition whose file system holds recordings, its mount point not
    mounted (so it looks empty): refused before any write (no key made, the disk, the
    crypttab and the fstab untouched)."""
    disk = ext4(tmp_path / "data.img", IMAGE_DATA_UUID, {"recordings/c/2026-01-01/a.mp4": b"x"})
    before = disk.read_bytes()
    key, crypttab, fstab = tmp_path / "keys" / "data.key", tmp_path / "ct", tmp_path / "fstab"
    mountpoint = tmp_path / "var-lib-edge"
    mountpoint.mkdir()
    with pytest.raises(EncryptError, match="holds data"):
        encrypt(str(disk), key, crypttab, fstab, mountpoint)
    assert disk.read_bytes() == before
    assert not key.exists() and not crypttab.exists() and not fstab.exists()


def test_a_luks_volume_the_box_key_does_not_open_is_left_alone(tmp_path: Path) -> None:
    """A corrupted header, or a key that is not this box's: nothing formatted, nothing
    written, and the message says so."""
    disk, key, other = tmp_path / "data.img", tmp_path / "keys" / "data.key", tmp_path / "k2"
    with disk.open("wb") as f:
        f.truncate(32 << 20)
    make_key(other)
    res = subprocess.run(format_command(str(disk), other, ARM_AES), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    make_key(key)
    before = disk.read_bytes()
    with pytest.raises(EncryptError, match="does not open"):
        encrypt(str(disk), key, tmp_path / "ct", tmp_path / "fstab", tmp_path / "mnt")
    assert disk.read_bytes() == before and not (tmp_path / "ct").exists()


def test_the_data_mount_follows_the_opened_volume() -> None:
    fstab = ("PARTLABEL=edge-root  /              ext4  defaults,noatime,commit=30  0 1\n"
             "# PARTLABEL=edge-data /var/lib/edge\n"
             "PARTLABEL=edge-data  /var/lib/edge  ext4  defaults,noatime,nofail     0 2\n")
    out = fstab_for_mapper(fstab).splitlines()
    assert out[0].startswith("PARTLABEL=edge-root") and out[1].startswith("# PARTLABEL")
    assert out[2].split() == ["/dev/mapper/edge-data", "/var/lib/edge", "ext4",
                              "defaults,noatime,nofail", "0", "2"]
    assert fstab_for_mapper("\n".join(out) + "\n") == "\n".join(out) + "\n"  # once


def test_a_data_partition_that_does_not_mount_is_explained_and_kept(tmp_path: Path) -> None:
    """edge-data-check's diagnosis at a boot where the data partition is not mounted, read
    from real disk images: every case names what to do, and nothing is written to them."""
    disk, key, other = tmp_path / "data.img", tmp_path / "keys" / "data.key", tmp_path / "k2"
    with disk.open("wb") as f:
        f.truncate(32 << 20)
    make_key(key)
    res = subprocess.run(format_command(str(disk), key, ARM_AES), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    before = disk.read_bytes()
    moved = tmp_path / "gone.key"
    key.rename(moved)  # the root was reflashed: the key file is gone
    said = diagnose(look(str(disk), key), key)
    assert f"the key file {key} of the encrypted data partition is missing" in said
    assert "put the key file back and reboot" in said and "密钥文件" in said
    make_key(other)
    assert "does not open the encrypted partition" in diagnose(look(str(disk), other), other)
    moved.rename(key)
    assert look(str(disk), key).key_opens is True
    assert disk.read_bytes() == before

    plain = ext4(tmp_path / "plain.img", IMAGE_DATA_UUID, {"edge.db": b"SQLite format 3\0"})
    assert "(ext4) does not mount (it needs fsck)" in diagnose(look(str(plain), key), key)
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(1 << 20))
    assert "no file system found" in diagnose(look(str(blank), key), key)
    assert "no data partition found" in diagnose(look(None, key), key)
    assert "minutes only" in stand_in_text("x")
