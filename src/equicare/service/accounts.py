"""Accounts, roles, API tokens and browser sessions, kept in the equicare store.

Tokens
------
An API token looks like ``eqc_<key>_<secret>``: ``key`` (8 hex digits) is stored in clear to find the
account, ``secret`` (256 random bits, URL-safe base64) is stored only as a salted scrypt hash
(``N=2**14, r=8, p=1``, 16-byte salt) and compared in constant time. The token is shown once, when the
account is made. A sign-in creates a session: a fresh 256-bit random id sent as an HttpOnly,
SameSite=Strict cookie; the store keeps only its SHA-256 (a fast hash is enough for a random 256-bit
value) and its expiry.

Roles are ordered ``viewer < planner < admin``: viewers read; planners also upload data, run scenarios
and release aggregates; admins also manage the accounts of their organisation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from equicare.errors import EquicareError
from equicare.store import Store

__all__ = ["ROLES", "User", "add_user", "authenticate_token", "create_session", "end_session", "list_users",
           "session_user", "ensure_schema", "has_role", "set_active"]

ROLES = ("viewer", "planner", "admin")
SESSION_HOURS = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    role TEXT NOT NULL,
    token_key TEXT NOT NULL UNIQUE,
    token_salt TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP,
    created_by TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
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
    """Create the account tables if missing."""
    with store._lock:
        store.con.execute(_SCHEMA)


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
        if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchall():
            raise EquicareError(f"a user called {name!r} already exists")
        con.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, ?)",
                    [name, org, role, key, salt.hex(), _hash(secret, salt), _now(), created_by])
    return f"eqc_{key}_{secret}"


def list_users(store: Store, org: str | None = None) -> list[dict]:
    """Accounts (never their hashes), optionally of one organisation."""
    ensure_schema(store)
    return store.select("SELECT name, org, role, active, created_at, created_by FROM users", {"org": org},
                        "name").to_dict(orient="records")


def set_active(store: Store, name: str, active: bool) -> None:
    """Enable or disable an account (a disabled account's token and sessions stop working)."""
    ensure_schema(store)
    with store.transaction() as con:
        con.execute("UPDATE users SET active = ? WHERE name = ?", [bool(active), name])
        if not active:
            con.execute("DELETE FROM sessions WHERE user_name = ?", [name])
    _CACHE.clear()


# Verified tokens are cached briefly (by SHA-256 of the token) so that each API call does not pay for scrypt.
_CACHE: dict[str, tuple[float, User]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SECONDS = 60.0


def authenticate_token(store: Store, token: str | None) -> User | None:
    """The active account a token belongs to, or None."""
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
    ensure_schema(store)
    row = store.query("SELECT name, org, role, token_salt, token_hash, active FROM users WHERE token_key = ?", [key])
    if row.empty or not bool(row.active.iloc[0]):
        return None
    r = row.iloc[0]
    if not hmac.compare_digest(_hash(secret, bytes.fromhex(r.token_salt)), r.token_hash):
        return None
    user = User(str(r["name"]), str(r.org), str(r.role))
    with _CACHE_LOCK:
        _CACHE[fast] = (time.monotonic() + _CACHE_SECONDS, user)
    return user


def create_session(store: Store, user: User) -> str:
    """Start a browser session; returns the cookie value."""
    sid = secrets.token_urlsafe(32)
    with store.transaction() as con:
        con.execute("DELETE FROM sessions WHERE expires_at < ?", [_now()])
        con.execute("INSERT INTO sessions VALUES (?, ?, ?)",
                    [hashlib.sha256(sid.encode()).hexdigest(), user.name, _now() + timedelta(hours=SESSION_HOURS)])
    return sid


def session_user(store: Store, sid: str | None) -> User | None:
    """The account of a live session cookie, or None."""
    if not sid:
        return None
    ensure_schema(store)
    row = store.query(
        "SELECT u.name, u.org, u.role FROM sessions s JOIN users u ON u.name = s.user_name "
        "WHERE s.id_hash = ? AND s.expires_at > ? AND u.active", [hashlib.sha256(sid.encode()).hexdigest(), _now()])
    if row.empty:
        return None
    r = row.iloc[0]
    return User(str(r["name"]), str(r.org), str(r.role))


def end_session(store: Store, sid: str | None) -> None:
    if sid:
        with store._lock:
            store.con.execute("DELETE FROM sessions WHERE id_hash = ?", [hashlib.sha256(sid.encode()).hexdigest()])
