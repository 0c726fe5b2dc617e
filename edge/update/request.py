"""An update asked for from the web UI's System page or the broker (``cmd/update``).

The daemon runs as the unprivileged ``edge`` user inside ``edge.service``: it can neither
write ``/opt/edge`` nor survive its own restart. So it only checks the bundle (signature,
version: a bad one is refused at once, where the asker sees it) and leaves it with a
request in ``<data_dir>/updates/``. ``edge-update.path`` (root) sees ``request.json`` and
starts ``edge-update.service``, which runs ``edge update --request`` outside edge.service's
cgroup: it takes the request, installs, restarts edge, checks and rolls back as
``edge update BUNDLE`` does. Every step is written to ``updates/state.json`` for the
System page; the outcome also goes to the audit log and the broker.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import __version__
from edge.config import EdgeConfig
from edge.update.bundle import Manifest, load_public_key, verify, version_key

UPDATES = "updates"
REQUEST, STATE = "request.json", "state.json"
BUSY = ("requested", "installing", "restarting", "checking", "rolling_back")
STALE_S = 3600  # a step that old is not "in progress" any more (the updater was killed)
TAKE_S = 120  # a request not taken by then: edge-update.path is not running
DOWNLOAD_TIMEOUT_S = 60  # per read: a stalled 4G link gives up, a slow one goes on
_BUNDLE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}\.bundle")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class UpdateError(Exception):
    """Why an update was not installed or not accepted (the old version runs on)."""


@dataclass(frozen=True)
class Request:
    bundle: Path
    allow_downgrade: bool
    by: str


def updates_dir(data_dir: Path) -> Path:
    return Path(data_dir) / UPDATES


def check_version(new: str, running: str, allow_downgrade: bool) -> None:
    if version_key(new) == version_key(running):
        raise UpdateError(f"已是版本 {running} already running {running}")
    if version_key(new) < version_key(running) and not allow_downgrade:
        raise UpdateError(f"拒绝降级 refusing a downgrade from {running} to {new} "
                          "(--allow-downgrade to force it)")


def submit(cfg: EdgeConfig, bundle: Path, allow_downgrade: bool, by: str) -> Manifest:
    """Check ``bundle`` (a file in ``updates/``) and ask for it to be installed; raises
    BundleError/UpdateError (the file is then removed) when it cannot be."""
    folder = updates_dir(cfg.data_dir)
    try:  # refused or failed, for whatever reason: the upload never stays
        if busy(cfg.data_dir):
            raise UpdateError("另一次升级正在进行 another update is in progress")
        with tempfile.TemporaryDirectory(dir=folder, prefix=".check-") as tmp:
            manifest = verify(bundle, load_public_key(Path(cfg.update.public_key)), Path(tmp))
        check_version(manifest.version, __version__, allow_downgrade)
    except BaseException:
        bundle.unlink(missing_ok=True)
        raise
    kept = folder / f"edge-{manifest.version}.bundle"
    os.replace(bundle, kept)
    write_state(cfg.data_dir, "requested", version=manifest.version, previous=__version__, by=by)
    _write_json(folder / REQUEST, {"bundle": kept.name, "allow_downgrade": allow_downgrade,
                                   "by": by, "ts": time.time()})
    return manifest


def take(data_dir: Path) -> Request:
    """The pending request, removed so that the path unit does not start it twice. The
    daemon wrote it, so it is checked like anything a peer sends."""
    folder = updates_dir(data_dir)
    path = folder / REQUEST
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # read as root: follow no link
        with os.fdopen(fd, "rb") as file:
            raw = file.read(4096)
        body = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise UpdateError(f"没有升级请求 no update request in {folder}") from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested JSON
        raise UpdateError(f"升级请求无效 unreadable update request {path}: {exc}") from None
    finally:
        path.unlink(missing_ok=True)  # taken, good or bad: the path unit must not loop
    name = body.get("bundle") if isinstance(body, dict) else None
    if not isinstance(name, str) or not _BUNDLE_NAME.fullmatch(name):
        raise UpdateError(f"升级请求无效 the update request names no bundle in {folder}")
    return Request(folder / name, body.get("allow_downgrade") is True, str(body.get("by", "-")))


def write_state(data_dir: Path, state: str, **detail: object) -> None:
    """One update's progress, for the System page (replaced whole, atomically)."""
    folder = updates_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / STATE, {"state": state, "ts": time.time(), **detail})


def read_state(data_dir: Path) -> dict[str, Any]:
    try:
        body = json.loads((updates_dir(data_dir) / STATE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def busy(data_dir: Path) -> bool:
    state = read_state(data_dir)
    return (state.get("state") in BUSY and not untaken(data_dir)
            and time.time() - float(state.get("ts", 0) or 0) < STALE_S)


def untaken(data_dir: Path) -> bool:
    """A request left longer than TAKE_S: no update service took it (not the appliance's
    image, or edge-update.path disabled)."""
    state = read_state(data_dir)
    return (state.get("state") == "requested" and (updates_dir(data_dir) / REQUEST).exists()
            and time.time() - float(state.get("ts", 0) or 0) > TAKE_S)


def download(cfg: EdgeConfig, url: str, sha256: str | None = None) -> Path:
    """Fetch a bundle into ``updates/`` (http or https: the signature is what is trusted),
    no larger than ``[update].max_bundle_mb``; raises UpdateError."""
    if not url.startswith(("https://", "http://")):
        raise UpdateError("url 须为 http(s) the bundle's url must be http:// or https://")
    if sha256 is not None and not _SHA256.fullmatch(sha256):
        raise UpdateError("sha256 须为 64 位十六进制 sha256 must be 64 lower-case hex digits")
    limit = cfg.update.max_bundle_mb << 20
    folder = updates_dir(cfg.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix="download-", suffix=".bundle")
    path, digest, size = Path(name), hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as res:  # noqa: S310
            while block := res.read(1 << 16):
                size += len(block)
                if size > limit:
                    raise UpdateError(f"升级包超过 {cfg.update.max_bundle_mb} MB "
                                      f"the bundle exceeds [update].max_bundle_mb")
                digest.update(block)
                out.write(block)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise UpdateError(f"sha256 不符 the download's sha256 is {digest.hexdigest()}")
    except (OSError, urllib.error.URLError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise UpdateError(f"下载失败 download of {url} failed: {exc}") from None
    except UpdateError:
        path.unlink(missing_ok=True)
        raise
    return path


def _write_json(path: Path, body: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # O_EXCL: no link
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(body, ensure_ascii=False))
    os.chmod(tmp, 0o644)  # the web UI reads what the updater wrote
    os.replace(tmp, path)
