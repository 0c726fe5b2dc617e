"""Update bundles: only what the vendor signed, every byte as signed, nothing outside its
place, no downgrade unless asked."""

import io
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.update.bundle import BundleError, build, load_public_key, public_hex, verify, version_key
from edge.update.request import UpdateError, check_version

KEY = Ed25519PrivateKey.generate()
MEMBERS = {"wheels/edge-0.2.0-py3-none-any.whl": b"PK\x03\x04 not really a wheel" * 50,
           "overlay/etc/edge/journald.conf": "[Journal]\nSystemMaxUse=200M\n".encode()}


def _bundle(tmp_path: Path, key: Ed25519PrivateKey = KEY, version: str = "0.2.0") -> Path:
    out = tmp_path / f"edge-{version}.bundle"
    build(out, key, version, MEMBERS, "2026-12-03T10:00:00Z", "abc123")
    return out


def test_a_signed_bundle_verifies_and_unpacks(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    manifest = verify(_bundle(tmp_path), KEY.public_key(), dest)
    assert (manifest.version, manifest.commit) == ("0.2.0", "abc123")
    assert manifest.wheels() == ["wheels/edge-0.2.0-py3-none-any.whl"]
    for name, data in MEMBERS.items():
        assert (dest / name).read_bytes() == data


def test_one_changed_byte_anywhere_is_refused(tmp_path: Path) -> None:
    good = _bundle(tmp_path).read_bytes()
    # every 97th byte: the tar headers, the manifest, its signature and both members
    for offset in range(0, len(good), 97):
        bad = bytearray(good)
        bad[offset] ^= 0x01
        path = tmp_path / "bad.bundle"
        path.write_bytes(bytes(bad))
        try:
            verify(path, KEY.public_key(), tmp_path / f"o{offset}")
        except BundleError:
            continue
        # a flipped bit in padding or an unused header field changes nothing signed
        assert _members(path) == _members(tmp_path / "edge-0.2.0.bundle"), offset


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_another_key_is_refused(tmp_path: Path) -> None:
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(BundleError, match="signature"):
        verify(_bundle(tmp_path, stranger), KEY.public_key(), tmp_path / "out")


@pytest.mark.parametrize("name", ["overlay/../../etc/shadow", "/etc/passwd", "wheels/x.sh",
                                  "wheels/sub/edge.whl", "other/file", "overlay/中文"])
def test_members_outside_their_place_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BundleError, match="not allowed"):
        build(tmp_path / "b", KEY, "0.2.0", {name: b"x"}, "t")


def test_unsigned_extra_and_odd_members_are_refused(tmp_path: Path) -> None:
    path = _bundle(tmp_path)
    with tarfile.open(path, "a") as tar:  # a member slipped in after signing
        info = tarfile.TarInfo("overlay/etc/sudoers.d/evil")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(BundleError, match="not in the manifest"):
        verify(path, KEY.public_key(), tmp_path / "out")
    unsigned = tmp_path / "unsigned.bundle"
    with tarfile.open(_bundle(tmp_path), "r") as src, tarfile.open(unsigned, "w") as dst:
        for member in src.getmembers():
            if member.name != "manifest.sig":
                dst.addfile(member, src.extractfile(member))
    with pytest.raises(BundleError, match="manifest.sig missing"):
        verify(unsigned, KEY.public_key(), tmp_path / "out2")
    (tmp_path / "garbage").write_bytes(b"\x00" * 3000)
    with pytest.raises(BundleError):
        verify(tmp_path / "garbage", KEY.public_key(), tmp_path / "out3")


@pytest.mark.parametrize("text", ["1.０", "²", "0.2", "1.2.3.4.5", "v1.0", ""])
def test_version_numbers_are_ascii_dotted(text: str) -> None:
    if text == "0.2":
        assert version_key(text) == (0, 2)
        return
    with pytest.raises(BundleError):
        version_key(text)


def test_public_key_file(tmp_path: Path) -> None:
    path = tmp_path / "update.pub"
    path.write_text(public_hex(KEY) + "\n")
    assert load_public_key(path).public_bytes_raw() == KEY.public_key().public_bytes_raw()
    path.write_text("not a key")
    with pytest.raises(BundleError):
        load_public_key(path)


def test_downgrade_and_reinstall_are_refused_unless_asked() -> None:
    with pytest.raises(UpdateError, match="downgrade"):
        check_version("0.1.9", "0.2.0", allow_downgrade=False)
    with pytest.raises(UpdateError, match="already"):
        check_version("0.2.0", "0.2.0", allow_downgrade=True)
    check_version("0.1.9", "0.2.0", allow_downgrade=True)
    check_version("0.10.0", "0.9.9", allow_downgrade=False)  # numbers, not strings
