"""An update bundle: what it holds, how it is signed, how it is checked.

A bundle is an uncompressed tar (wheels are compressed already) of::

    manifest.json       {"format": 1, "version": "0.2.0", "created": "...", "commit": "...",
                         "files": {"wheels/edge-0.2.0-py3-none-any.whl": {"sha256": ..,
                         "size": ..}, "overlay/etc/edge/...": {...}}}
    manifest.sig        ed25519 signature of manifest.json's bytes (64 bytes)
    wheels/*.whl        what the new version needs beyond the box's wheelhouse
    overlay/...         files laid over / (the firmware overlay's changes)

The box trusts one public key (``[update].public_key``, from the image). Nothing is
installed unless the signature verifies, every member is named in the manifest with its
size and SHA-256, and no member would land outside its place. Members are read with
bounded sizes; a tar that lies is refused by name.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.errors import ProtocolError

FORMAT = 1
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
MAX_MANIFEST_BYTES = 1 << 20
MAX_MEMBER_BYTES = 512 << 20
MAX_MEMBERS = 2000
_VERSION = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4}){1,3}")
_PARTS = ("wheels", "overlay")


class BundleError(ProtocolError):
    """A bundle we refuse: unsigned, tampered, malformed, or not for this box."""


@dataclass(frozen=True)
class Manifest:
    version: str
    created: str
    commit: str
    files: dict[str, dict[str, Any]]

    def wheels(self) -> list[str]:
        return sorted(n for n in self.files if n.startswith("wheels/"))

    def overlay(self) -> list[str]:
        return sorted(n for n in self.files if n.startswith("overlay/"))


def version_key(version: str) -> tuple[int, ...]:
    """``0.2.10`` -> (0, 2, 10); BundleError for anything but dotted ASCII numbers."""
    if not _VERSION.fullmatch(version):
        raise BundleError(f"版本号无效 bad version {version[:40]!r} (dotted numbers, e.g. 0.2.0)")
    return tuple(int(p) for p in version.split("."))


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A raw 32-byte key written as 64 hex digits (what ``tools/make_bundle.py`` prints)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise BundleError(f"本机没有升级公钥 {path}, 无法校验升级包: 镜像构建时用 UPDATE_PUBLIC_KEY 放入 "
                          f"no update key at {path}: this box cannot check any bundle (build the "
                          "image with UPDATE_PUBLIC_KEY)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: 无法读取升级公钥 cannot read the update key: {exc}") from None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise BundleError(f"{path}: 不是 ed25519 公钥 not an ed25519 public key (64 hex digits)")
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def public_hex(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def build(out: Path, key: Ed25519PrivateKey, version: str, members: dict[str, bytes],
          created: str, commit: str = "") -> None:
    """Write a signed bundle of ``members`` (name under wheels/ or overlay/ -> bytes)."""
    version_key(version)
    for name in members:
        _check_name(name)
    manifest = {"format": FORMAT, "version": version, "created": created, "commit": commit,
                "files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                          for n, d in sorted(members.items())}}
    body = json.dumps(manifest, indent=1, sort_keys=True).encode()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [(MANIFEST, body), (SIGNATURE, key.sign(body)),
                           *sorted(members.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))


def verify(path: Path, public_key: Ed25519PublicKey, dest: Path) -> Manifest:
    """Check the bundle at ``path`` and extract its members under ``dest``; BundleError
    says why not (a refused bundle's members may be left in ``dest``: throw it away)."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = tar.getmembers()
            if len(members) > MAX_MEMBERS:
                raise BundleError(f"{len(members)} members: more than {MAX_MEMBERS}")
            by_name = {m.name: m for m in members}
            if len(by_name) != len(members):
                raise BundleError("a member appears twice")
            body = _read(tar, by_name, MANIFEST, MAX_MANIFEST_BYTES)
            signature = _read(tar, by_name, SIGNATURE, 64)
            try:
                public_key.verify(signature, body)
            except InvalidSignature:
                raise BundleError("签名无效 the signature does not verify: not from the vendor, "
                                  "or changed since it was signed") from None
            manifest = _parse_manifest(body)
            extra = set(by_name) - set(manifest.files) - {MANIFEST, SIGNATURE}
            if extra:
                raise BundleError(f"members not in the manifest: {sorted(extra)[:5]}")
            for name, facts in manifest.files.items():
                _extract(tar, by_name, name, facts, dest / name)
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError(f"{path.name}: 不是有效的升级包 not a readable bundle: {exc}") from None
    return manifest


def _extract(tar: tarfile.TarFile, by_name: dict[str, tarfile.TarInfo], name: str,
             facts: dict[str, Any], target: Path) -> None:
    """Stream one member to ``target``, checking its size and SHA-256 on the way."""
    member = _member(by_name, name, MAX_MEMBER_BYTES)
    handle = tar.extractfile(member)
    assert handle is not None
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != facts["size"] or digest.hexdigest() != facts["sha256"]:
        raise BundleError(f"{name}: 内容与清单不符 does not match the manifest")


def _member(by_name: dict[str, tarfile.TarInfo], name: str, limit: int) -> tarfile.TarInfo:
    member = by_name.get(name)
    if member is None:
        raise BundleError(f"{name} missing")
    if not member.isfile() or member.size > limit:
        raise BundleError(f"{name}: not a regular file of at most {limit} bytes")
    return member


def _read(tar: tarfile.TarFile, by_name: dict[str, tarfile.TarInfo], name: str,
          limit: int) -> bytes:
    handle = tar.extractfile(_member(by_name, name, limit))
    assert handle is not None
    return handle.read(limit + 1)


def _parse_manifest(body: bytes) -> Manifest:
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"manifest is not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError(f"manifest format is not {FORMAT}")
    version = raw.get("version")
    files = raw.get("files")
    if not isinstance(version, str) or not isinstance(files, dict):
        raise BundleError("manifest lacks version or files")
    version_key(version)
    for name, facts in files.items():
        _check_name(name)
        if not (isinstance(facts, dict) and isinstance(facts.get("size"), int)
                and isinstance(facts.get("sha256"), str)):
            raise BundleError(f"{name}: manifest entry lacks size or sha256")
    return Manifest(version, str(raw.get("created", "")), str(raw.get("commit", "")), files)


def _check_name(name: str) -> None:
    parts = PurePosixPath(name).parts
    if (not name.isascii() or name.startswith("/") or ".." in parts or len(parts) < 2
            or parts[0] not in _PARTS or "\\" in name or len(name) > 255
            or (parts[0] == "wheels" and (len(parts) != 2 or not name.endswith(".whl")))):
        raise BundleError(f"member name not allowed: {name[:80]!r}")
