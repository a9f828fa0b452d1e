from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from gateway.auth.tokens import HASHER, TOKEN_LENGTH, Role, TokenError, TokenStore, role_allows, well_formed
from gateway.core.clock import FakeClock

T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting verifications (to prove the cache spares them)."""

    def __init__(self) -> None:
        super().__init__(time_cost=HASHER.time_cost, memory_cost=HASHER.memory_cost,
                         parallelism=HASHER.parallelism)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verifications += 1
        return super().verify(hash, password)


class Ticker:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> TokenStore:
    return TokenStore.in_dir(tmp_path, clock=clock)


def test_created_token_has_the_documented_shape_and_is_valid(store: TokenStore) -> None:
    new = store.create("night shift", "engineer")
    assert new.secret.startswith("sg_") and len(new.secret) == TOKEN_LENGTH and well_formed(new.secret)
    verdict = store.verify(new.secret)
    assert verdict.info is not None and verdict.info.role == "engineer" and verdict.info.name == "night shift"
    assert verdict.info.id == new.info.id and verdict.info.last_used_at == T0


def test_listing_shows_fields_but_never_the_token(store: TokenStore, clock: FakeClock) -> None:
    new = store.create("night shift", "viewer")
    clock.advance(timedelta(minutes=5))
    store.verify(new.secret)
    (info,) = store.list()
    assert info.to_json() == {"id": new.info.id, "name": "night shift", "role": "viewer", "zones": [],
                              "created_at": T0.isoformat(), "last_used_at": (T0 + timedelta(minutes=5)).isoformat(),
                              "revoked_at": None}
    assert new.secret not in repr(new) and new.secret not in repr(info)


def test_database_holds_argon2_hashes_not_tokens(store: TokenStore, tmp_path: Path) -> None:
    secrets = [store.create(f"t{i}", "admin").secret for i in range(3)]
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("auth.db*"))
    for secret in secrets:
        assert secret.encode() not in raw
        assert secret[3:20].encode() not in raw  # not even a piece of the random part
    hashes = [row[0] for row in sqlite3.connect(tmp_path / "auth.db").execute("SELECT hash FROM tokens")]
    assert len(hashes) == 3 and all(h.startswith("$argon2id$") for h in hashes)


def test_auth_db_is_readable_by_its_owner_only(store: TokenStore) -> None:
    assert store.path.stat().st_mode & 0o077 == 0


def test_unknown_and_malformed_tokens_are_refused_with_a_reason(store: TokenStore) -> None:
    store.create("night shift", "engineer")
    unknown = store.verify("sg_" + "A" * 43)
    assert unknown.info is None and "not known" in unknown.reason
    for bad in ("", "sg_short", "xx_" + "A" * 43, "sg_" + "!" * 43, "sg_" + "é" * 43):
        verdict = store.verify(bad)
        assert verdict.info is None and "malformed" in verdict.reason


def test_revoked_token_is_refused_and_says_so(store: TokenStore, clock: FakeClock) -> None:
    new = store.create("night shift", "engineer")
    assert store.verify(new.secret).info is not None  # now cached
    clock.advance(timedelta(hours=1))
    revoked = store.revoke(new.info.id)
    assert revoked.revoked_at == T0 + timedelta(hours=1)
    verdict = store.verify(new.secret)
    assert verdict.info is None and "revoked" in verdict.reason and "night shift" in verdict.reason
    clock.advance(timedelta(hours=1))
    assert store.revoke(new.info.id).revoked_at == T0 + timedelta(hours=1)  # the first time stays


def test_revoking_an_unknown_id_names_the_known_ones(store: TokenStore) -> None:
    new = store.create("a", "viewer")
    with pytest.raises(TokenError, match=rf"no token with id 'nope'.*{new.info.id}.*sitegate token list"):
        store.revoke("nope")


def test_bad_role_and_bad_name_are_refused(store: TokenStore) -> None:
    with pytest.raises(TokenError, match="'root' is not a role; use one of viewer, guard, engineer, service, "
                                         "supervisor, admin"):
        store.create("x", "root")
    for name in ("", "   ", "x" * 101, "line\nbreak"):
        with pytest.raises(TokenError, match="printable characters"):
            store.create(name, "viewer")
    assert store.list() == []


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "engineer") and role_allows("engineer", "engineer")
    assert not role_allows("viewer", "engineer") and not role_allows("engineer", "admin")


# Which `have` roles pass where `need` is the floor, written out by hand from issue 12 §4:
# viewer < guard < {engineer, service} < supervisor < admin, engineer and service side by side.
PASSES = {
    "viewer": {"viewer", "guard", "engineer", "service", "supervisor", "admin"},
    "guard": {"guard", "engineer", "service", "supervisor", "admin"},
    "engineer": {"engineer", "supervisor", "admin"},
    "service": {"service", "supervisor", "admin"},
    "supervisor": {"supervisor", "admin"},
    "admin": {"admin"},
}
SIX = ("viewer", "guard", "engineer", "service", "supervisor", "admin")


@pytest.mark.parametrize("need", SIX)
@pytest.mark.parametrize("have", SIX)
def test_roles_form_a_partial_order(have: Role, need: Role) -> None:
    assert role_allows(have, need) is (have in PASSES[need])


def test_zones_are_stored_trimmed_and_deduplicated(store: TokenStore) -> None:
    new = store.create("B1 patrol", "guard", zones=["B1", " B2 ", "B1"])
    assert new.info.zones == ("B1", "B2")
    verdict = store.verify(new.secret)
    assert verdict.info is not None and verdict.info.zones == ("B1", "B2")
    assert store.get(new.info.id) == replace(new.info, last_used_at=T0)
    assert verdict.info.to_json()["zones"] == ["B1", "B2"]
    assert store.create("from text", "engineer", zones="b1,b2").info.zones == ("b1", "b2")
    assert store.create("anywhere", "engineer").info.zones == ()
    for bad in (["B1", ""], ["B1,B2"], ["x" * 201]):
        with pytest.raises(TokenError, match="zone"):
            store.create("bad", "guard", zones=bad)


# The schema of the first release, copied as it was: three roles in a CHECK, no zones column.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    lookup TEXT NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'engineer', 'admin')),
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS tokens_lookup ON tokens (lookup);
"""


def test_an_auth_db_of_the_first_release_is_upgraded_keeping_every_token(tmp_path: Path, clock: FakeClock) -> None:
    # Tokens made by a current store, then written into a file with the old layout, as the old code did.
    source = TokenStore(tmp_path / "source.db", clock=clock)
    made = {role: source.create(f"{role} one", role) for role in ("viewer", "engineer", "admin")}
    source.revoke(made["viewer"].info.id)
    rows = sqlite3.connect(tmp_path / "source.db").execute(
        "SELECT id, lookup, hash, name, role, created_at, last_used_at, revoked_at FROM tokens ORDER BY id").fetchall()
    source.close()
    old = sqlite3.connect(tmp_path / "auth.db")
    old.executescript(OLD_SCHEMA)
    old.executemany("INSERT INTO tokens VALUES (?,?,?,?,?,?,?,?)", rows)
    old.commit()
    with pytest.raises(sqlite3.IntegrityError):  # the old CHECK: the reason a rebuild is needed
        old.execute("INSERT INTO tokens VALUES ('x','l','h','n','guard','2026-01-01T00:00:00+00:00',NULL,NULL)")
    old.close()

    store = TokenStore.in_dir(tmp_path, clock=clock)
    after = sqlite3.connect(tmp_path / "auth.db")
    kept = after.execute("SELECT id, lookup, hash, name, role, created_at, last_used_at, revoked_at FROM tokens "
                         "ORDER BY id").fetchall()
    assert kept == rows  # every row, hash and time as it was
    assert after.execute("SELECT DISTINCT zones FROM tokens").fetchall() == [("[]",)]
    assert after.execute("PRAGMA user_version").fetchone() == (2,)
    assert after.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tokens' "
                         "AND name = 'tokens_lookup'").fetchone() == ("tokens_lookup",)
    after.close()
    # The old tokens still work (and the revoked one is still revoked); the new roles and zones can be stored.
    engineer = store.verify(made["engineer"].secret).info
    assert engineer is not None and engineer.role == "engineer" and engineer.zones == ()
    assert store.verify(made["viewer"].secret).info is None
    assert store.has_admin()
    service = store.create("B1 patrol", "service", zones=["B1"])
    assert store.verify(service.secret).info == replace(service.info, last_used_at=T0)
    store.close()
    # Opening again changes nothing.
    again = TokenStore.in_dir(tmp_path, clock=clock)
    assert {t.name: t.zones for t in again.list()} == {"viewer one": (), "engineer one": (), "admin one": (),
                                                        "B1 patrol": ("B1",)}
    again.close()


def test_cache_spares_the_hash_until_its_ttl_ends(tmp_path: Path, clock: FakeClock) -> None:
    hasher, ticker = CountingHasher(), Ticker()
    store = TokenStore.in_dir(tmp_path, clock=clock, cache_ttl=30, monotonic=ticker, hasher=hasher)
    new = store.create("n", "engineer")
    for _ in range(50):
        assert store.verify(new.secret).info is not None
    assert hasher.verifications == 1
    ticker.t += 31
    assert store.verify(new.secret).info is not None
    assert hasher.verifications == 2


def test_a_revocation_by_another_process_ends_the_cache_at_once(tmp_path: Path, clock: FakeClock) -> None:
    server = TokenStore.in_dir(tmp_path, clock=clock, cache_ttl=3600)
    new = server.create("n", "engineer")
    assert server.verify(new.secret).info is not None  # cached for an hour
    cli = TokenStore.in_dir(tmp_path, clock=clock)  # its own connection, as `sitegate token revoke` has
    cli.revoke(new.info.id)
    cli.close()
    assert server.cached(new.secret) is None
    assert "revoked" in server.verify(new.secret).reason


def test_has_admin_counts_only_unrevoked_admins(store: TokenStore) -> None:
    assert not store.has_admin()
    store.create("e", "engineer")
    assert not store.has_admin()
    admin = store.create("a", "admin")
    assert store.has_admin()
    store.revoke(admin.info.id)
    assert not store.has_admin()


def test_a_cached_verification_is_fast_enough_for_every_request(store: TokenStore) -> None:
    new = store.create("n", "engineer")
    started = time.perf_counter()
    store.verify(new.secret)
    miss = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(2000):
        store.verify(new.secret)
    hit = (time.perf_counter() - started) / 2000
    print(f"argon2 verification (cache miss) {miss * 1000:.1f} ms, cached {hit * 1e6:.1f} us")
    assert hit < 0.001  # generous for a loaded 2-core box; typically ~10 us


def test_a_read_only_database_still_lets_valid_tokens_in(tmp_path: Path, clock: FakeClock) -> None:
    writer = TokenStore.in_dir(tmp_path, clock=clock)
    new = writer.create("n", "engineer")
    writer.close()
    (tmp_path / "auth.db").chmod(0o400)
    try:
        reader = TokenStore(tmp_path / "auth.db", clock=clock)
        reader._db.execute("PRAGMA query_only = ON")  # root ignores file modes: refuse writes like a full disk
        verdict = reader.verify(new.secret)
        assert verdict.info is not None and verdict.info.role == "engineer"
    finally:
        (tmp_path / "auth.db").chmod(0o600)


def test_a_failed_upgrade_leaves_the_old_file_as_it_was_and_says_why(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    old = sqlite3.connect(tmp_path / "auth.db")
    old.executescript(OLD_SCHEMA)
    old.execute("INSERT INTO tokens VALUES ('a1','l','h','night shift','engineer','2026-01-01T00:00:00+00:00',"
                "NULL,NULL)")
    old.commit()
    old.close()
    from gateway.auth import tokens as module

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE tokens")  # the rebuild gets this far, then the disk is full
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(module, "_rebuild", half_done)
    with pytest.raises(TokenError, match=r"Cannot bring the token database .*auth\.db up to date \(database or "
                                         r"disk is full\).*Its tokens are unchanged"):
        TokenStore.in_dir(tmp_path)
    after = sqlite3.connect(tmp_path / "auth.db")
    assert after.execute("SELECT id, name, role FROM tokens").fetchall() == [("a1", "night shift", "engineer")]
    assert after.execute("PRAGMA user_version").fetchone() == (0,)
    after.close()
