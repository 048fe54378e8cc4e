"""Accounts, roles, API tokens and browser sessions, kept in the equicare store.

Tokens
------
An API token looks like ``eqc_<key>_<secret>``: ``key`` (8 hex digits) is stored in clear to find the
account, ``secret`` (256 random bits, URL-safe base64) is stored only as a salted scrypt hash
(``N=2**14, r=8, p=1``, 16-byte salt) and compared in constant time. The token is shown once, when the
account is made. A sign-in creates a session: a fresh 256-bit random id sent as an HttpOnly,
SameSite=Strict cookie; the store keeps only its SHA-256 (a fast hash is enough for a random 256-bit
value) and its expiry.

User names are unique within an organisation (two organisations may each have a ``pat``); an account
is found by its token, never by its name alone. Failed token checks are limited per account and per
client address (:class:`AuthLimits`); beyond the limit a token is refused without being hashed.

Roles are ordered ``viewer < planner < admin``: viewers read; planners also upload data, run scenarios
and release aggregates; admins also manage the accounts of their organisation.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from equicare.errors import EquicareError
from equicare.store import Store

__all__ = ["ROLES", "AuthLimits", "FailureLimiter", "TooManyAttempts", "User", "add_user", "authenticate_token", "create_session", "end_session", "list_users",
           "session_user", "ensure_schema", "has_role", "set_active", "token_account"]

ROLES = ("viewer", "planner", "admin")
SESSION_HOURS = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT NOT NULL,
    org TEXT NOT NULL,
    role TEXT NOT NULL,
    token_key TEXT NOT NULL UNIQUE,
    token_salt TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP,
    created_by TEXT,
    PRIMARY KEY (org, name)
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user_org TEXT NOT NULL,
    user_name TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
"""


@dataclass(frozen=True)
class User:
    """A signed-in account."""

    name: str
    org: str
    role: str

    def to_dict(self) -> dict:
        return {"name": self.name, "org": self.org, "role": self.role}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def ensure_schema(store: Store) -> None:
    """Create the account tables if missing (and upgrade stores whose user names were global)."""
    with store.locked():
        if _needs_upgrade(store):
            _upgrade(store)
        store.con.execute(_SCHEMA)


def _needs_upgrade(store: Store) -> bool:
    pk = store.con.execute("SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = 'users' "
                           "AND constraint_type = 'PRIMARY KEY'").fetchall()
    return bool(pk) and list(pk[0][0]) == ["name"]


def _upgrade(store: Store) -> None:
    """User names were unique across organisations; make them unique per organisation (sessions restart)."""
    con = store.con
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_SCHEMA.replace("CREATE TABLE IF NOT EXISTS users (", "CREATE TABLE users_v2 (", 1)
                    .split("CREATE TABLE IF NOT EXISTS sessions")[0])
        con.execute("INSERT INTO users_v2 SELECT name, org, role, token_key, token_salt, token_hash, active, "
                    "created_at, created_by FROM users")
        con.execute("DROP TABLE users")
        con.execute("ALTER TABLE users_v2 RENAME TO users")
        con.execute("DROP TABLE IF EXISTS sessions")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def has_role(user: User, role: str) -> bool:
    """Whether ``user``'s role is at least ``role``."""
    return ROLES.index(user.role) >= ROLES.index(role)


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32).hex()


def _check_name(label: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise EquicareError(f"{label} must be 1-64 letters, digits or _.@- and start with a letter or digit, "
                            f"got {value!r}")
    return value


def add_user(store: Store, name: str, org: str, role: str, created_by: str | None = None) -> str:
    """Create an account and return its API token (shown once; only a salted hash is kept).

    Raises
    ------
    EquicareError
        Bad name, organisation or role, or a name already taken.
    """
    _check_name("user name", name)
    _check_name("organisation", org)
    if role not in ROLES:
        raise EquicareError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    ensure_schema(store)
    key = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM users WHERE org = ? AND name = ?", [org, name]).fetchall():
            raise EquicareError(f"a user called {name!r} already exists in {org}")
        con.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, ?)",
                    [name, org, role, key, salt.hex(), _hash(secret, salt), _now(), created_by])
    return f"eqc_{key}_{secret}"


def list_users(store: Store, org: str | None = None) -> list[dict]:
    """Accounts (never their hashes), optionally of one organisation."""
    ensure_schema(store)
    return store.select("SELECT name, org, role, active, created_at, created_by FROM users", {"org": org},
                        "name").to_dict(orient="records")


def set_active(store: Store, name: str, active: bool, org: str) -> None:
    """Enable or disable the account ``name`` of ``org`` (a disabled account's token and sessions stop working)."""
    ensure_schema(store)
    with store.transaction() as con:
        con.execute("UPDATE users SET active = ? WHERE org = ? AND name = ?", [bool(active), org, name])
        if not active:
            con.execute("DELETE FROM sessions WHERE user_org = ? AND user_name = ?", [org, name])
    _CACHE.clear()


# Verified tokens are cached briefly (by SHA-256 of the token) so that each API call does not pay for scrypt.
_CACHE: dict[str, tuple[float, User]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SECONDS = 60.0


class TooManyAttempts(Exception):
    """Too many failed sign-ins for an account or from an address; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-in attempts; try again in {retry_after} s")
        self.retry_after = retry_after


class FailureLimiter:
    """Counts failures per key in a sliding window (bounded memory: the oldest keys are forgotten).

    ``retry_after(key)`` is 0 while ``key`` had fewer than ``max_failures`` failures in the last
    ``window`` seconds, else the seconds until the oldest of them leaves the window.
    """

    def __init__(self, max_failures: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.max_failures, self.window, self.max_keys = int(max_failures), float(window), int(max_keys)
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            q = self._fails.get(key)
            if not q:
                return 0
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) < self.max_failures:
                return 0
            return max(1, math.ceil(q[0] + self.window - now))

    def fail(self, key: str) -> None:
        with self._lock:
            if key not in self._fails and len(self._fails) >= self.max_keys:
                self._fails.pop(next(iter(self._fails)))
            self._fails.setdefault(key, deque(maxlen=self.max_failures)).append(time.monotonic())


@dataclass
class AuthLimits:
    """Failed token checks allowed per account (token key) and per client address, per ``window`` seconds."""

    per_account: int = 10
    per_address: int = 30
    window: float = 60.0

    def __post_init__(self) -> None:
        self.accounts = FailureLimiter(self.per_account, self.window)
        self.addresses = FailureLimiter(self.per_address, self.window)


def token_account(store: Store, token: str | None, name: str | None = None) -> User | None:
    """The account a failed sign-in was aimed at, to file the failure in its organisation's audit log:
    the account whose token key the token carries (its secret is not checked), else the one active
    account called ``name`` when exactly one organisation has it. Never used to let anyone in."""
    ensure_schema(store)
    if token and token.startswith("eqc_") and len(token.split("_", 2)) == 3:
        row = store.query("SELECT name, org, role FROM users WHERE token_key = ?", [token.split("_", 2)[1][:16]])
        if not row.empty:
            return User(str(row.name.iloc[0]), str(row.org.iloc[0]), str(row.role.iloc[0]))
    if name:
        row = store.query("SELECT name, org, role FROM users WHERE name = ? AND active", [str(name).strip()[:64]])
        if len(row) == 1:
            return User(str(row.name.iloc[0]), str(row.org.iloc[0]), str(row.role.iloc[0]))
    return None


def authenticate_token(store: Store, token: str | None, *, limits: AuthLimits | None = None,
                       address: str | None = None) -> User | None:
    """The active account a token belongs to, or None.

    A token verified in the last minute is recognised without hashing. With ``limits``, a token whose
    account or whose sender (``address``) had too many recent failures is not checked at all:
    :class:`TooManyAttempts` is raised instead (a scrypt costs tens of milliseconds of CPU; a flood of
    wrong secrets must not become a denial of service).
    """
    if not token or not token.startswith("eqc_"):
        return None
    fast = hashlib.sha256(token.encode()).hexdigest()
    with _CACHE_LOCK:
        hit = _CACHE.get(fast)
        if hit and hit[0] > time.monotonic():
            return hit[1]
    parts = token.split("_", 2)
    if len(parts) != 3:
        return None
    _, key, secret = parts
    key = key[:16]
    if limits is not None:
        wait = max(limits.accounts.retry_after(key), limits.addresses.retry_after(address or "?"))
        if wait:
            raise TooManyAttempts(wait)
    ensure_schema(store)
    row = store.query("SELECT name, org, role, token_salt, token_hash, active FROM users WHERE token_key = ?", [key])
    ok = not row.empty and bool(row.active.iloc[0])
    if ok:
        r = row.iloc[0]
        ok = hmac.compare_digest(_hash(secret[:128], bytes.fromhex(r.token_salt)), r.token_hash)
    if not ok:
        if limits is not None:
            limits.accounts.fail(key)
            limits.addresses.fail(address or "?")
        return None
    user = User(str(r["name"]), str(r.org), str(r.role))
    with _CACHE_LOCK:
        if len(_CACHE) > 10_000:
            _CACHE.clear()
        _CACHE[fast] = (time.monotonic() + _CACHE_SECONDS, user)
    return user


def create_session(store: Store, user: User) -> str:
    """Start a browser session; returns the cookie value."""
    sid = secrets.token_urlsafe(32)
    with store.transaction() as con:
        con.execute("DELETE FROM sessions WHERE expires_at < ?", [_now()])
        con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                    [hashlib.sha256(sid.encode()).hexdigest(), user.org, user.name,
                     _now() + timedelta(hours=SESSION_HOURS)])
    return sid


def session_user(store: Store, sid: str | None) -> User | None:
    """The account of a live session cookie, or None."""
    if not sid:
        return None
    ensure_schema(store)
    row = store.query(
        "SELECT u.name, u.org, u.role FROM sessions s JOIN users u ON u.org = s.user_org AND u.name = s.user_name "
        "WHERE s.id_hash = ? AND s.expires_at > ? AND u.active", [hashlib.sha256(sid.encode()).hexdigest(), _now()])
    if row.empty:
        return None
    r = row.iloc[0]
    return User(str(r["name"]), str(r.org), str(r.role))


def end_session(store: Store, sid: str | None) -> None:
    if sid:
        with store.locked():
            store.con.execute("DELETE FROM sessions WHERE id_hash = ?", [hashlib.sha256(sid.encode()).hexdigest()])
