"""Bearer tokens with roles (and optionally zones), stored hashed in `<data>/auth.db` (SQLite).

A token is `sg_` + 32 random bytes (base64url, 43 characters). It is shown once, at creation; the
database keeps only an argon2id hash of it and a short SHA-256 fragment used to find the row (so a
request with a random token costs one index lookup, not a hash per stored token).

Verifying argon2 on every request would cost tens of milliseconds, so a verified token is trusted
from memory for `cache_ttl` seconds, keyed by its SHA-256 (the token itself is never kept or logged).
A revocation made through this store drops the cache at once; one made by another process (the CLI)
is seen at the next request, through SQLite's `data_version`, which changes when another connection
commits.

Roles form a partial order, not a ladder: customer service and engineers do different work, so
neither role stands in for the other; a supervisor or an admin stands in for both (`role_allows`).
What each role may do to a ticket is in gateway/auth/permissions.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.core.clock import Clock, SystemClock
from gateway.core.errors import SitegateError

log = logging.getLogger("sitegate.auth")

Role = Literal["viewer", "guard", "engineer", "service", "supervisor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
# The coarse floor the HTTP policy checks. engineer and service share a rank: each does work the
# other may not (repairs vs. dispatching and visiting back), so neither satisfies the other.
RANK: dict[Role, int] = {"viewer": 0, "guard": 1, "engineer": 2, "service": 2, "supervisor": 3, "admin": 4}
PREFIX = "sg_"
TOKEN_LENGTH = len(PREFIX) + 43  # 32 bytes in unpadded base64url
DB_NAME = "auth.db"
MAX_NAME = 100
MAX_ZONE = 200  # the ticket store's zone column is this wide
MAX_ZONES = 100

# argon2id at OWASP's minimum for passwords (19 MiB, 2 passes). Tokens are 256 random bits, so the
# hash need not slow down a guesser; these costs keep a cache miss near 20 ms on a small edge box.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# PRAGMA user_version of auth.db. 0: the first layout (three roles, no zones; CHECK listed only
# viewer, engineer, admin). 2: six roles and a `zones` column. Bump it when the table changes, and
# teach `_migrate` the step.
SCHEMA_VERSION = 2
_ROLE_LIST = ", ".join(f"'{r}'" for r in ROLES)
_TABLE = f"""
CREATE TABLE {{name}} (
    id TEXT PRIMARY KEY,
    lookup TEXT NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ({_ROLE_LIST})),
    zones TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS tokens_lookup ON tokens (lookup)"
_COLUMNS = "id, name, role, zones, created_at, last_used_at, revoked_at"


class TokenError(SitegateError):
    """A token request that cannot be done (bad role or name, unknown id); the message says why."""


def role_allows(have: Role, need: Role) -> bool:
    """Whether a `have` token passes where `need` is the floor: the same role, or a higher rank
    (so service does not pass for engineer nor engineer for service; supervisor and admin pass for both)."""
    return have == need or RANK[have] > RANK[need]


def roles_allowed(need: Role) -> tuple[Role, ...]:
    """Every role that passes where `need` is the floor, lowest first (for refusal messages)."""
    return tuple(r for r in ROLES if role_allows(r, need))


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise TokenError(f"'{role}' is not a role; use one of {', '.join(ROLES)}.")


def check_zones(zones: Iterable[str] | str) -> tuple[str, ...]:
    """Zone ids as given (a list, or text like "B1,B2"), trimmed, duplicates dropped; TokenError if one
    is unusable. Zones match a ticket's zone exactly, as in the inventory (case matters)."""
    items = zones.split(",") if isinstance(zones, str) else list(zones)
    given = repr(zones) if isinstance(zones, str) else repr(items)
    found: list[str] = []
    for raw in items:
        if not isinstance(raw, str):
            raise TokenError(f"A zone is text, like \"B1\"; got {raw!r}.")
        zone = raw.strip()
        if not zone or len(zone) > MAX_ZONE or not zone.isprintable() or "," in zone:
            raise TokenError(f"Each zone must be 1-{MAX_ZONE} printable characters without commas, as in the "
                             f"inventory's zone column (like B1); got {raw!r} in {given}.")
        if zone not in found:
            found.append(zone)
    if len(found) > MAX_ZONES:
        raise TokenError(f"A token may be limited to at most {MAX_ZONES} zones; got {len(found)}. Leave the "
                         "zones out to allow every zone.")
    return tuple(found)


@dataclass(frozen=True)
class TokenInfo:
    """Everything about a token except the token: safe to list, log and return over the API."""

    id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    zones: tuple[str, ...] = ()  # the only zones it may act in; empty: every zone

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {"id": self.id, "name": self.name, "role": self.role, "zones": list(self.zones),
                "created_at": iso(self.created_at), "last_used_at": iso(self.last_used_at),
                "revoked_at": iso(self.revoked_at)}


@dataclass(frozen=True)
class NewToken:
    info: TokenInfo
    secret: str = field(repr=False)  # shown once to the person who created it, never stored


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a presented token: `info` when valid, else the reason it is not."""

    info: TokenInfo | None
    reason: str = ""


def _fingerprint(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _lookup(token: str) -> str:
    return _fingerprint(token).hex()[:16]


def well_formed(token: str) -> bool:
    return (len(token) == TOKEN_LENGTH and token.startswith(PREFIX)
            and all(c.isascii() and (c.isalnum() or c in "-_") for c in token[len(PREFIX):]))


class TokenStore:
    """Create, list, revoke and verify tokens; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, *, clock: Clock | None = None, cache_ttl: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic, hasher: PasswordHasher = HASHER) -> None:
        self.path = path
        self.clock: Clock = clock or SystemClock()
        self.cache_ttl = cache_ttl
        self._monotonic = monotonic
        self._hasher = hasher
        self._lock = threading.Lock()
        self._cache: dict[bytes, tuple[TokenInfo, float]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        # The file holds only hashes, but nobody else on the box needs to read it.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        _migrate(self._db, path)
        self._version = self._data_version()

    @classmethod
    def in_dir(cls, data_dir: Path, **kwargs: Any) -> TokenStore:
        """The store of a gateway whose state lives in `data_dir`."""
        return cls(data_dir / DB_NAME, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- administration -------------------------------------------------------------------------
    def create(self, name: str, role: str, zones: Iterable[str] | str = ()) -> NewToken:
        """A new token; `zones` limits it to those zones (empty: every zone)."""
        name = name.strip()
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise TokenError(f"A token name must be 1-{MAX_NAME} printable characters (who or what uses it, "
                             f"like \"night shift\"); got {name!r}.")
        checked = check_role(role)
        limited = check_zones(zones)
        secret = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(id=secrets.token_hex(4), name=name, role=checked, created_at=self.clock.now(),
                         zones=limited)
        digest = self._hasher.hash(secret)
        with self._lock:
            self._db.execute("INSERT INTO tokens (id, lookup, hash, name, role, zones, created_at) "
                             "VALUES (?,?,?,?,?,?,?)",
                             (info.id, _lookup(secret), digest, info.name, info.role, json.dumps(list(limited)),
                              info.created_at.isoformat()))
        return NewToken(info, secret)

    def list(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        sql = f"SELECT {_COLUMNS} FROM tokens"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at, id").fetchall()
        return [_info(row) for row in rows]

    def get(self, token_id: str) -> TokenInfo | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return _info(row) if row else None

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke a token (idempotent: revoking twice keeps the first time); TokenError if unknown."""
        with self._lock:
            self._db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                             (self.clock.now().isoformat(), token_id))
            self._cache.clear()
        found = self.get(token_id)
        if found is None:
            known = ", ".join(t.id for t in self.list()) or "none yet"
            raise TokenError(f"There is no token with id '{token_id}' in {self.path} (known ids: {known}); "
                             "see `sitegate token list`.")
        return found

    def has_admin(self) -> bool:
        """Whether an unrevoked admin token exists."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM tokens WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1")
            return row.fetchone() is not None

    # -- every request --------------------------------------------------------------------------
    def cached(self, token: str) -> TokenInfo | None:
        """The token's info if it was verified less than `cache_ttl` ago and nothing changed since."""
        with self._lock:
            self._expire_if_changed()
            hit = self._cache.get(_fingerprint(token))
        if hit is not None and hit[1] > self._monotonic():
            return hit[0]
        return None

    def verify(self, token: str) -> Verdict:
        """Check a presented token: cached, else against its stored argon2 hash (slow; call off the loop)."""
        if not well_formed(token):
            return Verdict(None, "The token is malformed: a Sitegate token is 'sg_' followed by 43 letters, "
                                 "digits, '-' or '_'; check that it was copied whole.")
        if (info := self.cached(token)) is not None:
            return Verdict(info)
        with self._lock:
            rows = self._db.execute(f"SELECT hash, {_COLUMNS} FROM tokens WHERE lookup = ?",
                                    (_lookup(token),)).fetchall()
        for row in rows:
            if not self._matches(row[0], token):
                continue
            info = _info(row[1:])
            if info.revoked_at is not None:
                return Verdict(None, f"The token '{info.name}' (id {info.id}) was revoked at "
                                     f"{info.revoked_at.isoformat(timespec='seconds')}; ask an admin for a new one.")
            now = self.clock.now()
            info = replace(info, last_used_at=now)
            with self._lock:
                self._cache[_fingerprint(token)] = (info, self._monotonic() + self.cache_ttl)
                try:
                    self._db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now.isoformat(), info.id))
                except sqlite3.Error as exc:  # disk full or read-only: last use is a nicety, access is not
                    log.warning("cannot record when token %s was last used in %s: %s", info.id, self.path, exc)
            return Verdict(info)
        return Verdict(None, "The token is not known to this gateway; check that it was copied whole, or ask "
                             "an admin for a new one (`sitegate token create`).")

    def _matches(self, digest: str, token: str) -> bool:
        try:
            return self._hasher.verify(digest, token)
        except (VerificationError, InvalidHashError):
            return False

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _expire_if_changed(self) -> None:
        # Caller holds the lock. Another process committed (e.g. `sitegate token revoke`): forget all.
        version = self._data_version()
        if version != self._version:
            self._version = version
            self._cache.clear()


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring auth.db to SCHEMA_VERSION, keeping every token (ids, hashes, times).

    SQLite cannot change a CHECK constraint in place, so a table of an older layout is rebuilt: a new
    table, every row copied, the old one dropped, the new one renamed, all in one transaction (a crash
    leaves the old file as it was). BEGIN IMMEDIATE makes a second process opening the file at the
    same moment wait, then find the work done.
    """
    if int(db.execute("PRAGMA user_version").fetchone()[0]) >= SCHEMA_VERSION:
        return
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
                _rebuild(db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise TokenError(f"Cannot bring the token database {path} up to date ({exc}); check that the gateway "
                         "may write to it, then start again. Its tokens are unchanged.") from exc


def _rebuild(db: sqlite3.Connection) -> None:
    # Caller holds the write transaction.
    existing = {row[1] for row in db.execute("PRAGMA table_info(tokens)")}
    if not existing:  # a new file
        db.execute(_TABLE.format(name="tokens"))
        db.execute(_INDEX)
        return
    db.execute("DROP TABLE IF EXISTS tokens_upgrade")  # left by nothing we know of; never holds data
    db.execute(_TABLE.format(name="tokens_upgrade"))
    kept = "id, lookup, hash, name, role, created_at, last_used_at, revoked_at"
    zones = "zones" if "zones" in existing else "'[]'"
    db.execute(f"INSERT INTO tokens_upgrade ({kept}, zones) SELECT {kept}, {zones} FROM tokens")
    db.execute("DROP TABLE tokens")  # drops its index too
    db.execute("ALTER TABLE tokens_upgrade RENAME TO tokens")
    db.execute(_INDEX)


def _info(row: Any) -> TokenInfo:
    token_id, name, role, zones, created, used, revoked = row

    def when(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    return TokenInfo(id=token_id, name=name, role=check_role(role), created_at=datetime.fromisoformat(created),
                     last_used_at=when(used), revoked_at=when(revoked), zones=tuple(json.loads(zones)))
