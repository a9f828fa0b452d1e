from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gateway.auth.cli import token_app
from gateway.auth.tokens import TokenStore

runner = CliRunner()


def test_create_prints_the_token_once_on_stdout_and_it_works(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = runner.invoke(token_app, ["create", "--role", "engineer", "--name", "night shift", "--data", str(data)])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("sg_") and "\n" not in token
    assert "shown only this once" in result.stderr and "night shift" in result.stderr
    store = TokenStore.in_dir(data)
    verdict = store.verify(token)
    assert verdict.info is not None and verdict.info.role == "engineer"
    listed = runner.invoke(token_app, ["list", "--data", str(data)])
    assert listed.exit_code == 0 and "night shift" in listed.stdout and token not in listed.output


def test_data_folder_comes_from_the_site_file(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("site: {id: hv, timezone: UTC}\nstorage: {path: state}\n")
    result = runner.invoke(token_app, ["create", "--role", "admin", "--name", "ops", "--config", str(site)])
    assert result.exit_code == 0, result.output
    assert TokenStore.in_dir(tmp_path / "state").has_admin()


def test_list_json_and_revoke(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    runner.invoke(token_app, ["create", "--role", "viewer", "--name", "lobby screen", "--data", data])
    (info,) = json.loads(runner.invoke(token_app, ["list", "--json", "--data", data]).stdout)
    assert info["name"] == "lobby screen" and info["revoked_at"] is None and "token" not in info
    result = runner.invoke(token_app, ["revoke", info["id"], "--data", data])
    assert result.exit_code == 0 and f"Revoked token {info['id']} \"lobby screen\"" in result.stdout
    again = runner.invoke(token_app, ["revoke", info["id"], "--data", data])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    (after,) = json.loads(runner.invoke(token_app, ["list", "--json", "--data", data]).stdout)
    assert after["revoked_at"] is not None


def test_mistakes_are_explained(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    bad_role = runner.invoke(token_app, ["create", "--role", "root", "--name", "x", "--data", data])
    assert bad_role.exit_code == 2
    assert "'root' is not a role; use one of viewer, guard, engineer, service, supervisor, admin" in bad_role.stderr
    unknown = runner.invoke(token_app, ["revoke", "deadbeef", "--data", data])
    assert unknown.exit_code == 1 and "no token with id 'deadbeef'" in unknown.stderr
    site = tmp_path / "bad.yaml"
    site.write_text("site: {id: hv, timezone: Mars/Base}\n")
    broken = runner.invoke(token_app, ["list", "--config", str(site)])
    assert broken.exit_code == 1 and f"{site}:1:" in broken.stderr


def test_zones_through_the_sitegate_command(tmp_path: Path) -> None:
    from gateway.app.cli import app

    data = str(tmp_path / "data")
    result = runner.invoke(app, ["token", "create", "--role", "guard", "--zones", "B1, B2", "--name", "B1 patrol",
                                 "--data", data])
    assert result.exit_code == 0, result.output
    assert "guard role (zones B1, B2 only)" in result.stderr
    info = TokenStore.in_dir(tmp_path / "data").verify(result.stdout.strip()).info
    assert info is not None and info.role == "guard" and info.zones == ("B1", "B2")
    anywhere = runner.invoke(app, ["token", "create", "--role", "service", "--name", "desk", "--data", data])
    assert anywhere.exit_code == 0 and "service role (every zone)" in anywhere.stderr
    listed = runner.invoke(app, ["token", "list", "--data", data])
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[-1]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert lines["patrol"][1:3] == ["guard", "B1,B2"] and lines["desk"][1:3] == ["service", "all"]
    assert listed.stdout.splitlines()[0].split()[:3] == ["ID", "ROLE", "ZONES"]
    as_json = {t["name"]: t["zones"] for t in json.loads(runner.invoke(app, ["token", "list", "--json",
                                                                             "--data", data]).stdout)}
    assert as_json == {"B1 patrol": ["B1", "B2"], "desk": []}


def test_bad_zones_are_explained(tmp_path: Path) -> None:
    from gateway.app.cli import app

    data = str(tmp_path / "data")
    for zones, reason in (("", "--zones needs at least one zone"), (",", "--zones needs at least one zone"),
                          ("B1,,B2", "without commas")):
        result = runner.invoke(app, ["token", "create", "--role", "guard", "--zones", zones, "--name", "x",
                                     "--data", data])
        assert result.exit_code == 2 and reason in result.stderr, (zones, result.output)
    assert TokenStore.in_dir(tmp_path / "data").list() == []
