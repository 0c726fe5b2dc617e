"""Web accounts, kept in edge.db: roles, per-camera permission, scrypt passwords, lockout.

No default password exists: the first admin comes from ``edge user add`` or from the
one-time setup token. Passwords are hashed with scrypt (n=2**14, r=8, p=1: ~16 MB and
~50 ms on the box, so a stolen database is slow to attack). Five failed logins in a row
lock an account for 15 minutes. A session carries the account's ``session_gen``; a new
password changes it, which signs out every session of that account.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
from pathlib import Path
from dataclasses import dataclass

from edge.alerts.devices import PushDevices
from edge.errors import EdgeError

ROLES = ("admin", "operator", "viewer")
NAME = re.compile(r"[a-z][a-z0-9_.-]{1,31}")  # ASCII: it is burned into watermarks
MIN_PASSWORD = 8
MAX_PASSWORD = 256
LOCK_AFTER = 5
LOCK_S = 15 * 60
_N, _R, _P = 2**14, 8, 1
# what each role may do beyond watching the cameras it is allowed to see
ALLOWED = {
    "admin": {"ack", "export", "compliance", "ptz", "broadcast", "settings", "users", "audit",
              "system"},
    "operator": {"ack", "export", "compliance", "ptz", "broadcast"},
    "viewer": {"compliance"},
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    password TEXT NOT NULL,
    cameras TEXT,  -- JSON list of channel IDs; NULL: every camera
    disabled INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    session_gen TEXT NOT NULL,
    created_ts REAL NOT NULL
);
-- failed sign-ins per (name, client address): a wrong password from one address locks
-- that name there only, never the room's own admin at its desk
CREATE TABLE IF NOT EXISTS login_failures (
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    failed INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (name, address)
);
-- signed-in browsers: the cookie carries only the ID; signing out deletes the row
CREATE TABLE IF NOT EXISTS web_sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    created_ts REAL NOT NULL,
    seen_ts REAL NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL DEFAULT ''
);
"""
SESSION_TOUCH_S = 30.0  # a session's last-seen time is written at most this often


@dataclass(frozen=True)
class WebSession:
    id: str
    user_id: int
    created_ts: float
    seen_ts: float
    ip: str
    agent: str


class AccountError(EdgeError):
    """A name, role or password the accounts cannot take; the message is for people."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    display: str
    role: str
    cameras: tuple[str, ...] | None  # None: every camera
    disabled: bool
    failed: int
    locked_until: float
    session_gen: str

    def may(self, action: str) -> bool:
        return action in ALLOWED.get(self.role, set())

    def sees(self, channel: str) -> bool:
        return self.cameras is None or channel in self.cameras


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A hash to check an unknown name's password against (made once per process)."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    return _DUMMY[0]


def check_new_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"密码长度应为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符 the password must "
                           f"have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if password.isdigit() or password.isalpha():
        raise AccountError("密码应同时包含字母和数字 the password must mix letters and digits")


class Accounts:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @staticmethod
    def create_schema(db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)
        PushDevices.create_schema(db)  # the users' devices that get alerts

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def add(self, name: str, password: str, role: str, cameras: list[str] | None = None,
            display: str = "", now: float = 0.0) -> User:
        if not NAME.fullmatch(name):
            raise AccountError(f"用户名 {name!r} 应为 2–32 个小写字母、数字或 . _ - 且以字母开头 "
                               "the user name must be 2-32 lowercase letters, digits, . _ - "
                               "starting with a letter")
        if role not in ROLES:
            raise AccountError(f"角色应为 role must be one of {list(ROLES)}, got {role!r}")
        check_new_password(password)
        try:
            self.db.execute(
                "INSERT INTO users (name, display, role, password, cameras, session_gen,"
                " created_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, display[:64], role, hash_password(password),
                 None if cameras is None else json.dumps(cameras), secrets.token_hex(8), now))
        except sqlite3.IntegrityError:
            raise AccountError(f"用户 {name} 已存在 user {name} exists already") from None
        user = self.get(name)
        assert user is not None
        return user

    def get(self, name: str) -> User | None:
        return self._one("SELECT * FROM users WHERE name = ?", (name,))

    def by_id(self, user_id: int) -> User | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,))

    def all(self) -> list[User]:
        return [_user(r) for r in self.db.execute("SELECT * FROM users ORDER BY name")]

    def verify(self, name: str, password: str, now: float, address: str = "-"
               ) -> tuple[User | None, str]:
        """The user if the password is right; else None and why ("unknown", "locked",
        "disabled", "wrong": for the audit log only — the page says the same for all).
        Every answer costs one scrypt check, a known name or not. Failures are counted per
        (name, client address) and lock that pair after LOCK_AFTER in a row: an attacker
        elsewhere on the LAN cannot lock the admin out of the room's own PC."""
        row = self.db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        stored = str(row[4]) if row else _dummy_hash()
        right = check_password(password, stored)  # before any answer: the same time for all
        failed, locked_until = self.db.execute(
            "SELECT failed, locked_until FROM login_failures WHERE name = ? AND address = ?",
            (name, address)).fetchone() or (0, 0.0)
        if locked_until > now:
            return None, "locked"
        user = _user(row) if row else None
        if user is not None and right and not user.disabled:
            self.db.execute("DELETE FROM login_failures WHERE name = ? AND address = ?",
                            (name, address))
            return user, "ok"
        failed += 1
        locked = now + LOCK_S if failed >= LOCK_AFTER else 0.0
        self.db.execute(
            "INSERT INTO login_failures (name, address, failed, locked_until) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name, address) DO UPDATE SET failed = excluded.failed,"
            " locked_until = excluded.locked_until",
            (name[:64], address[:64], 0 if locked else failed, locked))
        if user is not None and locked:
            self.db.execute("UPDATE users SET locked_until = ? WHERE id = ?", (locked, user.id))
        if locked:
            return None, "locked"
        return None, "unknown" if user is None else "disabled" if user.disabled else "wrong"

    def unlock(self, name: str) -> int:
        """Clear a name's locks from every address (``edge user unlock`` on the box)."""
        self.db.execute("UPDATE users SET failed = 0, locked_until = 0 WHERE name = ?", (name,))
        return int(self.db.execute("DELETE FROM login_failures WHERE name = ?",
                                   (name,)).rowcount)

    def set_password(self, user_id: int, password: str) -> None:
        check_new_password(password)
        self.db.execute("UPDATE users SET password = ?, session_gen = ?, failed = 0,"
                        " locked_until = 0 WHERE id = ?",
                        (hash_password(password), secrets.token_hex(8), user_id))
        self.db.execute("DELETE FROM login_failures WHERE name ="
                        " (SELECT name FROM users WHERE id = ?)", (user_id,))
        self.close_sessions(user_id)

    # -- server-side sessions (a stolen cookie dies at sign-out, idle time or its age) --

    def open_session(self, user_id: int, ip: str, agent: str, now: float) -> str:
        sid = secrets.token_urlsafe(32)
        self.db.execute("INSERT INTO web_sessions (id, user_id, created_ts, seen_ts, ip, agent)"
                        " VALUES (?, ?, ?, ?, ?, ?)", (sid, user_id, now, now, ip[:64],
                                                       agent[:200]))
        return sid

    def session(self, sid: str) -> WebSession | None:
        row = self.db.execute("SELECT id, user_id, created_ts, seen_ts, ip, agent"
                              " FROM web_sessions WHERE id = ?", (sid,)).fetchone()
        return WebSession(*row) if row else None

    def touch_session(self, current: WebSession, now: float) -> None:
        if now - current.seen_ts >= SESSION_TOUCH_S:
            self.db.execute("UPDATE web_sessions SET seen_ts = ? WHERE id = ?", (now, current.id))

    def close_session(self, sid: str) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE id = ?", (sid,))

    def close_sessions(self, user_id: int) -> int:
        return int(self.db.execute("DELETE FROM web_sessions WHERE user_id = ?",
                                   (user_id,)).rowcount)

    def sessions(self, user_id: int) -> list[WebSession]:
        return [WebSession(*r) for r in self.db.execute(
            "SELECT id, user_id, created_ts, seen_ts, ip, agent FROM web_sessions"
            " WHERE user_id = ? ORDER BY seen_ts DESC", (user_id,))]

    def prune_sessions(self, now: float, idle_s: float, max_age_s: float) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE seen_ts < ? OR created_ts < ?",
                        (now - idle_s, now - max_age_s))

    def update(self, user_id: int, *, role: str, cameras: list[str] | None, disabled: bool,
               display: str) -> None:
        if role not in ROLES:
            raise AccountError(f"角色应为 role must be one of {list(ROLES)}")
        admins = [u for u in self.all() if u.role == "admin" and not u.disabled
                  and u.id != user_id]
        if not admins and (role != "admin" or disabled):
            raise AccountError("至少保留一个可用的管理员 keep at least one enabled admin")
        self.db.execute("UPDATE users SET role = ?, cameras = ?, disabled = ?, display = ?,"
                        " session_gen = CASE WHEN ? THEN ? ELSE session_gen END WHERE id = ?",
                        (role, None if cameras is None else json.dumps(cameras), int(disabled),
                         display[:64], int(disabled), secrets.token_hex(8), user_id))
        if disabled:
            self.close_sessions(user_id)

    def _one(self, sql: str, args: tuple[object, ...]) -> User | None:
        row = self.db.execute(sql, args).fetchone()
        return _user(row) if row else None


def _user(row: tuple[object, ...]) -> User:
    (uid, name, display, role, _pw, cameras, disabled, failed, locked, gen, _ts) = row
    listed = None if cameras is None else tuple(json.loads(str(cameras)))
    return User(int(uid), str(name), str(display), str(role), listed,  # type: ignore[call-overload]
                bool(disabled), int(failed), float(locked), str(gen))  # type: ignore[call-overload,arg-type]


SETUP_FILE = "setup-token"


def setup_token(data_dir: Path, accounts: Accounts) -> str | None:
    """The one-time token that lets the first admin be made in the browser, while no
    account exists (created here, 0600, and printed in the log and ``edge status``)."""
    path = data_dir / SETUP_FILE
    if accounts.count():
        path.unlink(missing_ok=True)
        return None
    if not path.exists():
        # whole or not at all: edge-console.path redraws the screen when the file appears
        tmp = path.with_name(SETUP_FILE + ".new")
        tmp.unlink(missing_ok=True)
        tmp.touch(mode=0o600)
        tmp.write_text(secrets.token_hex(6))
        os.replace(tmp, path)
    return path.read_text().strip()
