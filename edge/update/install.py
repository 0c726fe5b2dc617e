"""``edge update BUNDLE``: install a signed bundle into a new venv slot, switch, restart,
check, and roll back by itself when the new version does not come up healthy.

Layout under ``[update].root`` (``/opt/edge`` on the box)::

    venv -> slots/0.2.0     the symlink systemd's ExecStart goes through
    slots/0.1.0/            the previous version, kept for the rollback
    slots/0.2.0/            one venv per version; ``.incomplete`` while being built
    wheels/                 the wheelhouse every slot installs from (no index on the box)

The running version is never touched until the new slot is complete: the switch is one
atomic rename of the symlink, so a power cut or a SIGKILL at any moment leaves either the
old version or the new one, never half of one. After the restart the new version must
report itself healthy in ``status.json`` within ``check_timeout``: its own version, the
recorder alive, every runner up, the cameras that recorded before recording again, the
platforms registered before registered again, the web UI answering. Otherwise the
symlink goes back, the overlay files it replaced are restored, and the old version is
restarted. Both outcomes are audited and sent to the broker as events.

Until the check has passed the update is on trial: ``rollback`` links to the old slot and
``trial.json`` lists the overlay backups. A power cut or reboot during the check leaves
them behind, and at the next boot ``edge-update-recover.service`` runs the old version's
``edge _update-recover`` (through ``rollback``: the new one may not even start), which
puts the old version back before edge.service starts.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edge import __version__
from edge.config import EdgeConfig
from edge.mqtt.outbox import Outbox
from edge.record.index import Index
from edge.update.bundle import BundleError, Manifest, load_public_key, verify
from edge.update.request import UpdateError, check_version, write_state

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
INCOMPLETE = ".incomplete"
BACKUP = ".overlay-backup"
ABSENT = ".absent"  # a backup marker: the overlay added this file
TRIAL, ROLLBACK = "trial.json", "rollback"  # an update switched to, its check not passed
PIP_TIMEOUT_S = 1800
POLL_S = 1.0


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def slots(self) -> Path:
        return self.root / "slots"

    @property
    def wheelhouse(self) -> Path:
        return self.root / "wheels"

    @property
    def trial(self) -> Path:
        return self.root / TRIAL

    @property
    def rollback(self) -> Path:
        return self.root / ROLLBACK

    def current(self) -> Path | None:
        return self.venv.resolve() if self.venv.is_symlink() else None

    def switch(self, slot: Path) -> None:
        """Point ``venv`` at ``slot`` in one rename."""
        self._link(self.venv, slot)

    def begin_trial(self, previous: Path, version: str, old: str,
                    backups: list[tuple[Path, Path]]) -> None:
        """Before the switch: what a boot that finds the check unfinished puts back."""
        body = {"version": version, "previous": old, "ts": time.time(),
                "backups": [[str(t), str(b)] for t, b in backups]}
        tmp = self.root / f".{TRIAL}.new"
        with tmp.open("w", encoding="utf-8") as out:
            out.write(json.dumps(body, ensure_ascii=False))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.trial)
        self._link(self.rollback, previous)  # last: the recovery unit's condition

    def end_trial(self) -> None:
        self.rollback.unlink(missing_ok=True)  # first: no half-ended trial is recovered
        _fsync_dir(self.root)
        self.trial.unlink(missing_ok=True)
        _fsync_dir(self.root)

    def _link(self, link: Path, slot: Path) -> None:
        tmp = self.root / f".{link.name}-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(slot.relative_to(self.root))
        os.replace(tmp, link)
        _fsync_dir(self.root)


@dataclass
class Updater:
    cfg: EdgeConfig
    allow_downgrade: bool = False
    # does the web UI answer? (given by the caller: the web UI is a concern above this one)
    web_answers: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        self.u = self.cfg.update
        self.layout = Layout(Path(self.u.root))

    def run(self, bundle: Path) -> Manifest:
        """Install ``bundle``; UpdateError (or bundle.BundleError) if it was not kept."""
        layout = self.layout
        layout.slots.mkdir(parents=True, exist_ok=True)
        key = load_public_key(Path(self.u.public_key))
        current = layout.current()
        running = current.name if current else __version__
        self._sweep(current)
        with tempfile.TemporaryDirectory(dir=layout.root, prefix=".incoming-") as tmp:
            try:
                manifest = verify(bundle, key, Path(tmp))
                check_version(manifest.version, running, self.allow_downgrade)
            except (BundleError, UpdateError) as exc:
                self._report("update_refused", bundle=bundle.name, running=running,
                             reason=str(exc))
                raise
            self._step("installing", manifest.version, running)
            try:
                slot = self._build_slot(manifest, Path(tmp) / "wheels")
            except UpdateError as exc:
                self._report("update_failed", version=manifest.version, previous=running,
                             reason=str(exc))
                raise
            before = self._status()
            backups = self._overlay(Path(tmp) / "overlay", slot)
            os.sync()  # the slot's files (pip does not fsync) and the overlay, before the switch
            if current is not None:
                layout.begin_trial(current, manifest.version, running, backups)
            layout.switch(slot)
            logger.warning("update: switched to %s (was %s); restarting", manifest.version,
                           running)
            self._step("restarting", manifest.version, running)
            try:
                self._restart()
            except UpdateError as exc:  # it did not even start (systemd: the job failed)
                problem: str | None = f"the new version did not start: {exc}"
            else:
                self._step("checking", manifest.version, running)
                problem = self._healthy(manifest.version, before, time.time())
            if problem is None:
                layout.end_trial()
                self._keep(Path(tmp) / "wheels", current, slot)
                self._report("update_installed", version=manifest.version, previous=running)
                return manifest
            self._step("rolling_back", manifest.version, running, reason=problem)
            self._rollback(current, backups, running, manifest.version, problem)
            raise UpdateError(f"新版本 {manifest.version} 未通过检查, 已回退到 {running} "
                              f"the new version failed its check and was rolled back: {problem}")

    # -- steps ---------------------------------------------------------------------------

    def _sweep(self, current: Path | None) -> None:
        """Slots a killed update left half-built."""
        for slot in self.layout.slots.iterdir():
            if (slot / INCOMPLETE).exists() and slot != current:
                logger.warning("update: removing the unfinished slot %s", slot.name)
                shutil.rmtree(slot)

    def _build_slot(self, manifest: Manifest, wheels: Path) -> Path:
        slot = self.layout.slots / manifest.version
        if slot.exists():
            shutil.rmtree(slot)
        slot.mkdir(parents=True)
        (slot / INCOMPLETE).touch()
        # the venv is made where it stays: a venv moved afterwards breaks its scripts
        _run([self.u.base_python, "-m", "venv", str(slot)], "venv")
        links = [arg for d in (wheels, self.layout.wheelhouse) if d.is_dir()
                 for arg in ("--find-links", str(d))]
        _run([str(slot / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
              "--disable-pip-version-check", *links, f"edge=={manifest.version}"], "pip")
        shown = _run([str(slot / "bin" / "edge"), "--version"], "edge --version")
        if manifest.version not in shown:
            raise UpdateError(f"the new slot says {shown.strip()!r}, not {manifest.version}")
        (slot / INCOMPLETE).unlink()
        _fsync_dir(slot)
        return slot

    def _overlay(self, overlay: Path, slot: Path) -> list[tuple[Path, Path]]:
        """Lay the bundle's overlay files over ``overlay_root``; (target, backup) pairs."""
        if not overlay.is_dir():
            return []
        root, backups = Path(self.u.overlay_root), []
        for source in sorted(p for p in overlay.rglob("*") if p.is_file()):
            rel = source.relative_to(overlay)
            target, backup = root / rel, slot / BACKUP / rel
            backup.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.copy2(target, backup)
            else:
                backup.with_name(backup.name + ABSENT).touch()
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.edge-update")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
            backups.append((target, backup))
        return backups

    def _restart(self) -> None:
        _run(shlex.split(self.u.restart_command), "restart")

    def _healthy(self, version: str, before: dict[str, Any], since: float) -> str | None:
        """None once the new version is up as it was before; else why not by the timeout."""
        deadline = time.monotonic() + self.u.check_timeout
        problem: str | None = "no status yet"
        while time.monotonic() < deadline:
            problem = _judge(self._status(), version, before, since)
            if problem is None and self.cfg.web.enabled and self.web_answers is not None:
                problem = None if self.web_answers() else "the web UI does not answer"
            if problem is None:
                return None
            time.sleep(POLL_S)
        return problem

    def _rollback(self, previous: Path | None, backups: list[tuple[Path, Path]], old: str,
                  new: str, problem: str) -> None:
        logger.error("update: %s did not come up healthy (%s); rolling back to %s", new,
                     problem, old)
        _put_back(self.layout, previous, backups)
        self._drop(new, previous)
        try:
            self._restart()
        except UpdateError as exc:  # systemd restarts it on its own (Restart=always)
            logger.error("update: restarting %s after the rollback failed: %s", old, exc)
        back = self._healthy(old, {}, time.time())
        self._report("update_rolled_back", version=new, previous=old, reason=problem,
                     old_version_healthy=back is None)

    def recover(self) -> str | None:
        """At boot, before edge starts: an update whose check a reboot or power cut cut
        short is rolled back (it was never found healthy); the version put back, or None."""
        layout = self.layout
        if not layout.rollback.is_symlink():
            return None
        previous = layout.rollback.resolve()
        try:
            trial = json.loads(layout.trial.read_text("utf-8"))
        except (OSError, ValueError) as exc:  # written whole and fsynced: not expected
            logger.error("update: %s unreadable (%s); only the slot is put back", layout.trial,
                         exc)
            trial = {}
        new, old = str(trial.get("version", "?")), str(trial.get("previous", previous.name))
        backups = [(Path(t), Path(b)) for t, b in trial.get("backups", [])]
        logger.error("update: the box restarted before %s passed its check; back to %s",
                     new, old)
        _put_back(layout, previous, backups)
        self._drop(new, previous)
        self._report("update_rolled_back", version=new, previous=old,
                     reason="重启打断了新版本的检查 the box restarted during the new "
                            "version's check", old_version_healthy=None)
        return old

    def _keep(self, wheels: Path, previous: Path | None, slot: Path) -> None:
        """The bundle's wheels join the wheelhouse; slots other than these two go."""
        self.layout.wheelhouse.mkdir(exist_ok=True)
        for wheel in wheels.glob("*.whl") if wheels.is_dir() else []:
            shutil.copy2(wheel, self.layout.wheelhouse / wheel.name)
        for other in self.layout.slots.iterdir():
            if other not in (previous, slot):
                shutil.rmtree(other, ignore_errors=True)
        os.sync()  # the root commits every 30 s: a power cut must not bring them back

    def _drop(self, version: str, kept: Path | None) -> None:
        """A version rolled back is never run again: its slot (hundreds of MB on a 3-GB
        root) goes at once — failed updates filled the boot test's root to 93 %."""
        slot = self.layout.slots / version
        if version and "/" not in version and slot != kept and slot.is_dir():
            shutil.rmtree(slot, ignore_errors=True)
            os.sync()

    def _status(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.cfg.data_dir / STATUS_FILE).read_text("utf-8")))
        except (OSError, ValueError):
            return {}

    def _step(self, state: str, version: str, previous: str, **detail: object) -> None:
        as_owner(self.cfg.data_dir, lambda: write_state(
            self.cfg.data_dir, state, version=version, previous=previous, **detail))

    def _report(self, kind: str, **detail: object) -> None:
        """The audit log (统一日志), the System page and, through the outbox, the broker."""
        def write() -> None:
            write_state(self.cfg.data_dir, kind.removeprefix("update_"), **detail)
            index = Index(self.cfg.data_dir)
            try:
                outbox = Outbox(self.cfg.data_dir, index.db)
                with index.transaction():
                    index.audit("update", kind, **detail)
                    outbox.put("events", {"type": kind, **detail}, time.time())
            finally:
                index.close()

        as_owner(self.cfg.data_dir, write)


def _put_back(layout: Layout, previous: Path | None, backups: list[tuple[Path, Path]]) -> None:
    """The old slot and the overlay files the new one replaced; the trial over. Safe to
    repeat: a power cut in the middle is finished by the next boot."""
    if previous is not None:
        layout.switch(previous)
    for target, backup in backups:
        if backup.exists():
            shutil.copy2(backup, target)
        elif backup.with_name(backup.name + ABSENT).exists():
            target.unlink(missing_ok=True)
    os.sync()
    layout.end_trial()


def as_owner(data_dir: Path, write: Callable[[], None]) -> None:
    """Run ``write`` as the owner of ``data_dir``. The updater runs as root, the data dir
    belongs to the daemon's user: as root, a link the daemon left there (``state.json`` ->
    ``/etc/shadow``) would be followed; as its owner, nothing outside is writable."""
    owner = data_dir.stat()
    if os.geteuid() != 0 or owner.st_uid == 0:
        write()
        return
    pid = os.fork()
    if pid == 0:  # the child: drop to the owner, write, leave without unwinding the parent's state
        code = 1
        try:
            os.setgroups([])
            os.setgid(owner.st_gid)
            os.setuid(owner.st_uid)
            write()
            code = 0
        except BaseException:  # noqa: BLE001 - reported by the exit code, in the parent
            logger.exception("update: writing to %s as its owner failed", data_dir)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        logger.error("update: could not write the outcome to %s", data_dir)


def _judge(status: dict[str, Any], version: str, before: dict[str, Any],
           since: float) -> str | None:
    """What keeps ``status`` from being the healthy new version, or None."""
    if not status or float(status.get("ts", 0)) < since:
        return "no fresh status.json from the new version"
    if status.get("version") != version:
        return f"status.json says version {status.get('version')!r}"
    if not status.get("recorder_alive"):
        return "the recorder is not running"
    down = [r["name"] for r in status.get("runners", []) if r.get("state") in ("dead", "stale")]
    if down:
        return f"runners down: {', '.join(down)}"
    recording = {c["id"] for c in status.get("cameras", []) if c.get("recording")}
    missing = [c["id"] for c in before.get("cameras", [])
               if c.get("recording") and c["id"] not in recording]
    if missing:
        return f"not recording again: {', '.join(missing)}"
    registered = {p["id"] for p in status.get("platforms", []) if p.get("registered")}
    lost = [p["id"] for p in before.get("platforms", [])
            if p.get("registered") and p["id"] not in registered]
    if lost:
        return f"platforms not registered again: {', '.join(lost)}"
    return None


def _run(argv: list[str], what: str) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateError(f"{what} failed: {exc}") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise UpdateError(f"{what} failed (exit {res.returncode}): {' / '.join(tail)}")
    return res.stdout


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
