from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from gateway.auth.tokens import HASHER, TOKEN_LENGTH, TokenError, TokenStore, role_allows, well_formed
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
    assert info.to_json() == {"id": new.info.id, "name": "night shift", "role": "viewer",
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
    with pytest.raises(TokenError, match="'root' is not a role; use one of viewer, engineer, admin"):
        store.create("x", "root")
    for name in ("", "   ", "x" * 101, "line\nbreak"):
        with pytest.raises(TokenError, match="printable characters"):
            store.create(name, "viewer")
    assert store.list() == []


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "engineer") and role_allows("engineer", "engineer")
    assert not role_allows("viewer", "engineer") and not role_allows("engineer", "admin")


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
