from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.auth.bind import check_bind
from gateway.auth.config import AuthConfig, is_loopback, read_open
from gateway.auth.tokens import TokenStore
from gateway.core.errors import ConfigError
from gateway.core.siteload import load_site


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore.in_dir(tmp_path / "data")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_listen_starts_without_any_token(store: TokenStore, host: str) -> None:
    assert is_loopback(host)
    assert check_bind(host, store) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "gateway.local"])
def test_other_addresses_refuse_to_start_without_an_admin_token(store: TokenStore, host: str) -> None:
    store.create("night shift", "engineer")  # an engineer cannot manage access: still refused
    message = check_bind(host, store)
    assert message is not None
    assert f"http.listen is on {host}, which other machines can reach, but no admin token exists" in message
    assert f"sitegate token create --role admin --name NAME --data {store.path.parent}" in message
    assert message.endswith("then start again.")


def test_an_admin_token_allows_any_address(store: TokenStore) -> None:
    admin = store.create("ops", "admin")
    assert check_bind("0.0.0.0", store) is None
    store.revoke(admin.info.id)
    assert check_bind("0.0.0.0", store) is not None


def test_reads_are_open_by_default_on_loopback_only() -> None:
    default = AuthConfig()
    assert read_open(default, "127.0.0.1") and not read_open(default, "0.0.0.0")
    assert read_open(AuthConfig(read_open=True), "0.0.0.0")
    assert not read_open(AuthConfig(read_open=False), "127.0.0.1")


def site_file(tmp_path: Path, auth: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text("site: {id: hv, timezone: Asia/Shanghai}\n"
                    "http: {listen: '0.0.0.0:8080'}\n"
                    f"auth:\n{auth}")
    return path


def test_the_auth_section_of_the_site_file(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path, "  read_open: true\n  cors_origins: [https://ops.example.com]\n"
                                         "  token_cache_ttl: 10s\n"))
    auth = site.section(AuthConfig)
    assert auth == AuthConfig(read_open=True, cors_origins=["https://ops.example.com"],
                              token_cache_ttl=timedelta(seconds=10))


def test_a_site_without_auth_section_gets_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("site: {id: hv, timezone: UTC}\n")
    assert load_site(path).section(AuthConfig) == AuthConfig()


def test_bad_auth_settings_are_reported_at_their_line(tmp_path: Path) -> None:
    path = site_file(tmp_path, "  read_open: true\n  cors_origins: ['*', https://ok.example/path]\n"
                               "  token_ttl: 5s\n")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    lines = [str(p) for p in err.value.problems]
    assert f"{path}:5: auth.cors_origins.0: '*' is not a browser origin; list each one exactly" in lines[0]
    assert any(line.startswith(f"{path}:5: auth.cors_origins.1: 'https://ok.example/path'") for line in lines)
    assert any(line.startswith(f"{path}:6: auth.token_ttl: is not a known setting; did you mean "
                               "'token_cache_ttl'?") for line in lines)
