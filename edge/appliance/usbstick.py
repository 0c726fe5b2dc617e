"""A USB stick, the technician's local way in (``edge _usb-stick DEVICE``, run as root by
``edge-usb@.service`` when udev sees a FAT stick: 70-edge-usb.rules).

Only a stick with a folder ``EDGE`` at its top is touched (any other stick is left as it
is). The box writes ``EDGE/setup.txt`` there: its node ID, the address to open and, while
no admin exists, the one-time set-up token (the same text as on its screen). While no admin
exists it also takes the SSH public keys in ``EDGE/authorized_keys`` for root; once the box
is set up, keys are added over SSH by someone already let in, never from a stick."""

from __future__ import annotations

import base64
import binascii
import os
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from edge import bootnotes
from edge.appliance.console import addresses, screen_text
from edge.config import EdgeConfig
from edge.record.index import Index
from edge.web.accounts import SETUP_FILE, Accounts

FOLDER = "EDGE"
ROOT_KEYS = Path("/root/.ssh/authorized_keys")
KEY_TYPES = frozenset({"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                       "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                       "sk-ecdsa-sha2-nistp256@openssh.com"})
MAX_KEYS, MAX_KEY_BYTES = 16, 16384
TOKEN_WAIT_S = 300.0  # at boot the stick may be seen before the web UI has made its token


def key_lines(text: str) -> list[str]:
    """The well-formed public keys in an authorized_keys text (``type base64 [comment]``,
    no options: a stick may not set ``command=`` or ``from=``); at most 16."""
    keys = []
    for line in text.splitlines():
        fields = line.strip().split(None, 2)
        if len(fields) < 2 or fields[0] not in KEY_TYPES or len(line) > MAX_KEY_BYTES:
            continue
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except (binascii.Error, ValueError):
            continue
        if blob[4:4 + len(fields[0])] != fields[0].encode():  # the blob names its own type
            continue
        keys.append(" ".join(fields))
    return keys[:MAX_KEYS]


def handle(device: str, cfg: EdgeConfig) -> list[str]:
    """Read and write the stick at ``device``; what was done, for the journal."""
    with tempfile.TemporaryDirectory(prefix="edge-usb-") as where:
        mount = subprocess.run(["mount", "-t", "vfat", "-o", "nosuid,nodev,noexec,uid=0,gid=0,"
                                "fmask=0077,dmask=0077", device, where],
                               capture_output=True, text=True)
        if mount.returncode != 0:
            return [f"{device}: 无法挂载 cannot mount ({mount.stderr.strip()[-200:]})"]
        try:
            return _handle(Path(where) / FOLDER, device, cfg)
        finally:
            subprocess.run(["sync"], check=False)
            subprocess.run(["umount", where], capture_output=True, check=False)


def _handle(folder: Path, device: str, cfg: EdgeConfig) -> list[str]:
    if not folder.is_dir():
        return [f"{device}: 没有 {FOLDER} 文件夹, 未改动 no {FOLDER} folder: left untouched"]
    done = []
    token = _wait_for_token(cfg)
    keys_file = folder / "authorized_keys"
    if keys_file.is_file():
        if token is None:
            done.append(f"{device}: 已设置管理员, 不从 U 盘添加密钥 the box is set up: keys are "
                        "not taken from a stick")
        else:
            added = add_keys(key_lines(keys_file.read_text(encoding="utf-8", errors="replace")))
            done.append(f"{device}: 添加 SSH 密钥 {added} 个 added {added} SSH key(s) for root")
    notes = bootnotes.notes()
    here = addresses()
    text = screen_text(cfg, token, notes, here[0] if here else "<本机地址 box address>")
    (folder / "setup.txt").write_text(text.replace("\n", "\r\n"), encoding="utf-8")
    done.append(f"{device}: 写入 wrote {FOLDER}/setup.txt")
    return done


def add_keys(keys: list[str], path: Path = ROOT_KEYS) -> int:
    """Append the keys not there yet; how many were new."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    have = set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()
    new = [k for k in keys if k not in have]
    if new:
        with path.open("a", encoding="utf-8") as out:
            out.write("".join(k + "\n" for k in new))
            out.flush()
            os.fsync(out.fileno())
        path.chmod(0o600)
    return len(new)


def _wait_for_token(cfg: EdgeConfig) -> str | None:
    """The set-up token, or None once an admin exists (waiting while neither is there)."""
    deadline = time.monotonic() + TOKEN_WAIT_S
    token_file = cfg.data_dir / SETUP_FILE
    while True:
        if token_file.exists():
            return token_file.read_text(encoding="ascii").strip()
        if (cfg.data_dir / "edge.db").exists():
            index = Index(cfg.data_dir, readonly=True)
            try:
                if Accounts(index.db).count():
                    return None
            except sqlite3.Error:  # no accounts table yet: the daemon is still starting
                pass
            finally:
                index.close()
        if time.monotonic() > deadline:
            return None
        time.sleep(2.0)
