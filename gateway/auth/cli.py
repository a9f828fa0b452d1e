"""`sitegate token create|list|revoke`: manage the API tokens of a gateway's data folder.

The folder is found as `sitegate run` finds it: `--data DIR`, else $SITEGATE_DATA, else the site
file's `storage.path`, else ./data. The running gateway sees changes at its next request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.auth.tokens import ROLES, TokenError, TokenStore
from gateway.core.errors import ConfigError


def open_store(config: Path | None = None, data: str | None = None) -> TokenStore:
    """The token store of the gateway configured by `config` / `data` (ConfigError if the site is bad)."""
    from gateway.core.siteload import Overrides, load_site

    site = load_site(config, Overrides.from_env(data=data))
    return TokenStore.in_dir(site.data_dir)


def token_create(role: str, name: str, config: Path | None = None, data: str | None = None,
                 zones: str | None = None) -> int:
    """Print the new token alone on stdout (for scripts) and what it is on stderr; exit code.

    `zones` is the `--zones` text, "B1,B2"; None: every zone.
    """
    with _store(config, data) as store:
        try:
            if zones is not None and not zones.replace(",", "").strip():
                raise TokenError("--zones needs at least one zone, like --zones B1,B2; leave it out to allow "
                                 "every zone.")
            new = store.create(name, role, zones or ())
        except TokenError as exc:
            typer.echo(str(exc), err=True)
            return 2
        where = f"zones {', '.join(new.info.zones)} only" if new.info.zones else "every zone"
        typer.echo(f"Created token {new.info.id} \"{new.info.name}\" with the {new.info.role} role ({where}) in "
                   f"{store.path}. It is shown only this once; copy it now:", err=True)
        typer.echo(new.secret)
    return 0


def token_list(config: Path | None = None, data: str | None = None, as_json: bool = False) -> int:
    with _store(config, data) as store:
        tokens = store.list()
    if as_json:
        typer.echo(json.dumps([t.to_json() for t in tokens], ensure_ascii=False, indent=2))
        return 0
    if not tokens:
        typer.echo("No tokens yet; create one with `sitegate token create --role admin --name NAME`.")
        return 0
    width = max(len("ZONES"), *(len(_zones_text(t.zones)) for t in tokens))
    typer.echo(f"{'ID':<8}  {'ROLE':<10}  {'ZONES':<{width}}  {'CREATED':<16}  {'LAST USED':<16}  {'REVOKED':<16}  "
               "NAME")
    for t in tokens:
        def short(value: object) -> str:
            return f"{value:%Y-%m-%d %H:%M}" if value else "-"

        typer.echo(f"{t.id:<8}  {t.role:<10}  {_zones_text(t.zones):<{width}}  {short(t.created_at):<16}  "
                   f"{short(t.last_used_at):<16}  {short(t.revoked_at):<16}  {t.name}")
    return 0


def _zones_text(zones: tuple[str, ...]) -> str:
    return ",".join(zones) if zones else "all"


def token_revoke(token_id: str, config: Path | None = None, data: str | None = None) -> int:
    with _store(config, data) as store:
        before = store.get(token_id)
        try:
            info = store.revoke(token_id)
        except TokenError as exc:
            typer.echo(str(exc), err=True)
            return 1
    if before is not None and before.revoked_at is not None:
        typer.echo(f"Token {info.id} \"{info.name}\" was already revoked.")
    else:
        typer.echo(f"Revoked token {info.id} \"{info.name}\" ({info.role}); it stops working at its next use.")
    return 0


class _store:
    """`with _store(...) as store`: open the store or print the site file's (or auth.db's) problems, exit 1."""

    def __init__(self, config: Path | None, data: str | None) -> None:
        try:
            self.store = open_store(config, data)
        except ConfigError as exc:
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            raise typer.Exit(1) from None
        except TokenError as exc:  # e.g. an old auth.db that cannot be upgraded
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None

    def __enter__(self) -> TokenStore:
        return self.store

    def __exit__(self, *_exc: object) -> None:
        self.store.close()


# A ready sub-command group: `app.add_typer(token_app, name="token")` in gateway/app/cli.py.
# Plain help, as the main command line (gateway/app/cli.py): no `<bool>` beside flags.
token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True,
                        rich_markup_mode=None)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Site file (YAML).")]
DataOpt = Annotated[str | None, typer.Option("--data", help="Folder where state lives [env SITEGATE_DATA].")]


@token_app.command("create")
def create_command(role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
                   name: Annotated[str, typer.Option("--name", help="Who or what uses it, e.g. \"night shift\".")],
                   zones: Annotated[str | None, typer.Option(
                       "--zones", help="Limit it to these zones, comma-separated as in the inventory (B1,B2); "
                                       "default every zone.")] = None,
                   config: ConfigOpt = None, data: DataOpt = None) -> None:
    """Create a token and print it once."""
    raise typer.Exit(token_create(role, name, config, data, zones))


@token_app.command("list")
def list_command(config: ConfigOpt = None, data: DataOpt = None,
                 as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False) -> None:
    """List tokens (never the tokens themselves)."""
    raise typer.Exit(token_list(config, data, as_json))


@token_app.command("revoke")
def revoke_command(token_id: Annotated[str, typer.Argument(metavar="ID", help="The id from `token list`.")],
                   config: ConfigOpt = None, data: DataOpt = None) -> None:
    """Revoke a token; it stops working at once."""
    raise typer.Exit(token_revoke(token_id, config, data))
