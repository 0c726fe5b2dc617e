"""Update bundles: only what the vendor signed, every byte as signed, nothing outside its
place, no downgrade unless asked; the root updater writes the daemon's data dir only as
the daemon's user."""

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.config import parse as parse_config
from edge.record.index import Index
from edge.update.bundle import BundleError, build, load_public_key, public_hex, verify, version_key
from edge.update.install import Updater
from edge.update.request import UpdateError, check_version, read_state, take

NOBODY = 65534
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


@pytest.fixture
def daemon_data_dir() -> Iterator[Path]:
    """A data dir owned by another user (nobody), reachable by it, as /var/lib/edge is by
    edge on the box while the updater runs as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root (CI runs as root): the updater drops from root to the owner")
    base = Path(tempfile.mkdtemp(prefix="edge-owner-"))
    base.chmod(0o755)
    data = base / "data"
    (data / "updates").mkdir(parents=True)
    for path in (data, data / "updates"):
        os.chown(path, NOBODY, NOBODY)
    yield data
    shutil.rmtree(base)


def test_the_root_updater_writes_the_data_dir_as_its_owner(daemon_data_dir: Path) -> None:
    cfg = parse_config({"node": {"id": "34020000001180000001", "data_dir": str(daemon_data_dir)}})
    Updater(cfg)._report("update_refused", bundle="x.bundle", reason="a test")
    for name in ("edge.db", "updates/state.json"):
        assert (daemon_data_dir / name).stat().st_uid == NOBODY, name
    assert read_state(daemon_data_dir)["state"] == "refused"
    index = Index(daemon_data_dir, readonly=True)
    assert [a[2] for a in index.audit_log()] == ["update_refused"]
    index.close()


def test_links_the_daemon_left_are_not_followed_by_root(daemon_data_dir: Path) -> None:
    victim = daemon_data_dir.parent / "victim"  # stands for /etc/shadow: root's, 0644
    victim.write_text("root's own\n")
    (daemon_data_dir / "updates" / "state.json").symlink_to(victim)
    (daemon_data_dir / "edge.db").symlink_to(victim)
    (daemon_data_dir / "updates" / "request.json").symlink_to(victim)
    cfg = parse_config({"node": {"id": "34020000001180000001", "data_dir": str(daemon_data_dir)}})
    Updater(cfg)._report("update_refused", bundle="x.bundle", reason="a test")
    with pytest.raises(UpdateError, match="unreadable"):
        take(daemon_data_dir)
    assert victim.read_text() == "root's own\n"
    assert not (daemon_data_dir / "updates" / "request.json").exists()  # taken all the same


@pytest.mark.parametrize("raw", [
    b"[" * 4000, b"\xff\xfe not utf-8", b"[1, 2]", b'{"bundle": "../../etc/shadow"}',
    b'{"bundle": "x/y.bundle"}', b'{"bundle": 7}', b'{"bundle": "edge-\xef\xbc\x91.bundle"}', b"",
])
def test_a_hostile_request_raises_only_update_error_and_is_taken(tmp_path: Path,
                                                                 raw: bytes) -> None:
    (tmp_path / "updates").mkdir()
    (tmp_path / "updates" / "request.json").write_bytes(raw)
    with pytest.raises(UpdateError):
        take(tmp_path)
    assert not (tmp_path / "updates" / "request.json").exists()
