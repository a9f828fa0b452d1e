"""`sitegate hq`: the head office. Assembly (store, intake, service, app) and its command line.

    sitegate hq --config hq.yaml [--mqtt-url URL] [--http HOST:PORT] [--data DIR] [--database URL] [--replica NAME]
    sitegate hq token create --config hq.yaml --role viewer --name "regional manager" [--sites a,b]

Several replicas of one head office run the same file with different `--replica` names (so each has
its own persistent MQTT session) and one PostgreSQL `--database`.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.core.clock import Clock, SystemClock
from gateway.core.errors import ConfigError
from gateway.fleet.config import HqConfig, load_hq

log = logging.getLogger("sitegate.hq")

hq_app = typer.Typer(help="Head office: every site's events in one store, the fleet API and page.",
                     rich_markup_mode=None)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Head office file (hq.yaml).")]
DataOpt = Annotated[str | None, typer.Option("--data", envvar="SITEGATE_DATA",
                                             help="Folder where state lives (SQLite, tokens).")]


def _load(config: Path | None, **overrides: Any) -> HqConfig:
    if config is None:
        typer.echo("Say which head office file to use: --config hq.yaml (see examples/headoffice/hq.yaml).", err=True)
        raise typer.Exit(2)
    try:
        return load_hq(config, **overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None


def build(cfg: HqConfig, clock: Clock | None = None):  # type: ignore[no-untyped-def]
    """The app and what it runs, not started (tests use it in-process). Returns (app, intake, store)."""
    from gateway.auth.config import read_open
    from gateway.auth.tokens import TokenStore
    from gateway.fleet.events import SUBSCRIPTION
    from gateway.fleet.intake import Intake, shared_subscription
    from gateway.fleet.metrics import FleetMetrics
    from gateway.fleet.service import FleetService
    from gateway.fleet.store import FleetStore
    from gateway.ingest.broker import Broker, read_secret
    from gateway.ingest.mqtt import MqttSettings
    from gateway.web.hq_app import create_hq_app

    clock = clock or SystemClock()
    m = cfg.mqtt
    store = FleetStore(cfg.database_url)
    metrics = FleetMetrics()
    broker = Broker(m.host, m.port, m.tls, ca_file=_str(m.ca_file), cert_file=_str(m.cert_file),
                    key_file=_str(m.key_file), tls_insecure=m.tls_insecure, username=m.username,
                    password=read_secret(m.password_env, m.password_file))
    settings = MqttSettings(broker=broker, client_id=cfg.client_id,
                            status_topic=f"sitegate-hq/{cfg.file.hq.id}/{m.replica}/status",
                            subscriptions=[shared_subscription(m.group)], protocol=m.protocol,
                            keepalive=m.keepalive_s, reconnect_min=m.reconnect_min_s, reconnect_max=m.reconnect_max_s,
                            receive_maximum=m.receive_maximum, session_expiry=m.session_expiry_s)
    catchup = dataclasses.replace(settings, client_id=f"{cfg.client_id}-catchup", subscriptions=[SUBSCRIPTION],
                                  status_topic=f"{settings.status_topic}/catchup") if m.catchup else None
    intake = Intake(store, settings, metrics, keep_health_s=cfg.file.retention.health_events.total_seconds(),
                    now=lambda: clock.now().timestamp(), catchup=catchup)
    service = FleetService(store, clock, cfg.tz, cfg.file.sites, cfg.file.status.silent_after)
    tokens = TokenStore.in_dir(cfg.data_dir)

    def health() -> dict[str, Any]:
        up = intake.connected
        problem = intake.last_error or intake.mqtt.last_error
        return {"status": "ok" if up and intake.last_error is None else "degraded",
                "mqtt": "connected" if up else "disconnected", "hq": cfg.file.hq.id, "replica": m.replica,
                "client_id": cfg.client_id, "database": store.backend, "timezone": cfg.file.hq.timezone,
                "problem": problem,
                "now": clock.now().astimezone(cfg.tz).isoformat()}

    app = create_hq_app(service, metrics, health, start=intake.start, stop=intake.stop, tokens=tokens,
                        read_open=read_open(cfg.file.auth, cfg.http.host), cors_origins=cfg.file.auth.cors_origins)
    return app, intake, store, tokens


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def serve_hq(cfg: HqConfig, clock: Clock | None = None) -> None:
    from gateway.auth.bind import check_bind
    from gateway.web.server import run_http

    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    app, _intake, store, tokens = build(cfg, clock)
    refusal = check_bind(cfg.http.host, tokens)
    if refusal is not None:
        raise SystemExit(refusal.replace("sitegate token create", "sitegate hq token create --config HQ.yaml"))
    log.info("head office %s replica %s: %s, http://%s:%d", cfg.file.hq.id, cfg.mqtt.replica, store.backend,
             cfg.http.host, cfg.http.port)
    try:
        run_http(app, cfg.http.host, cfg.http.port)
    finally:
        store.close()


@hq_app.callback(invoke_without_command=True)
def hq(ctx: typer.Context, config: ConfigOpt = None,
       mqtt_url: Annotated[str | None, typer.Option("--mqtt-url", envvar="SITEGATE_MQTT_URL",
                                                    help="The head-office broker.")] = None,
       http: Annotated[str | None, typer.Option("--http", envvar="SITEGATE_HTTP",
                                                help="HOST:PORT for the fleet API and page.")] = None,
       data: DataOpt = None,
       database: Annotated[str | None, typer.Option(
           "--database", envvar="SITEGATE_HQ_DATABASE",
           help="SQLAlchemy URL, e.g. postgresql+psycopg://USER@HOST/DB [default: the file's database, else SQLite "
                "in --data].")] = None,
       replica: Annotated[str | None, typer.Option("--replica", help="This replica's name (its MQTT client id is "
                                                   "sitegate-hq-<hq id>-<replica>).")] = None,
       catchup: Annotated[bool, typer.Option(
           "--catchup", envvar="SITEGATE_HQ_CATCHUP",
           help="Also keep a plain persistent subscription (one replica per head office; see mqtt.catchup in "
                "docs/headoffice.md).")] = False,
       log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
       start: Annotated[str | None, typer.Option("--start", help="Run on a fixed timeline starting here (ISO "
                                                 "8601 with offset): tests and demonstrations only.")] = None,
       speed: Annotated[float, typer.Option("--speed", help="The timeline's speed-up (with --start), as the "
                                            "sites' in `sitegate demo --sites`.")] = 1.0,
       real_start: Annotated[float | None, typer.Option("--real-start", help="The Unix time at which the "
                                                        "timeline is at --start.")] = None) -> None:
    """Run the head office (the fleet API and page at --http)."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.core.clock import site_clock
    from gateway.core.logs import setup_logging

    setup_logging(log_level)
    cfg = _load(config, mqtt_url=mqtt_url, http=http, data=data, database=database, replica=replica,
                catchup=catchup)
    clock = site_clock(start, speed, real_start, None) if start else None
    serve_hq(cfg, clock)


token_app = typer.Typer(help="Head office API tokens: the site model's roles, limited to sites if asked.",
                        no_args_is_help=True, rich_markup_mode=None)
hq_app.add_typer(token_app, name="token")


def _tokens(config: Path | None, data: str | None):  # type: ignore[no-untyped-def]
    from gateway.auth.tokens import TokenStore

    cfg = _load(config, data=data)
    return TokenStore.in_dir(cfg.data_dir)


@token_app.command("create")
def token_create(role: Annotated[str, typer.Option("--role", help="viewer, guard, engineer, service, supervisor "
                                                   "or admin.")],
                 name: Annotated[str, typer.Option("--name", help="Who uses it.")],
                 sites: Annotated[str | None, typer.Option("--sites", help="Limit it to these site ids, "
                                                           "comma-separated; default every site.")] = None,
                 config: ConfigOpt = None, data: DataOpt = None) -> None:
    """Create a token and print it once (on stdout alone)."""
    from gateway.auth.tokens import TokenError

    store = _tokens(config, data)
    try:
        if sites is not None and not sites.replace(",", "").strip():
            raise TokenError("--sites needs at least one site id, like --sites harbor-view; leave it out for "
                             "every site.")
        new = store.create(name, role, sites or ())
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    where = f"sites {', '.join(new.info.zones)} only" if new.info.zones else "every site"
    typer.echo(f"Created token {new.info.id} \"{new.info.name}\" ({new.info.role}, {where}) in "
               f"{shlex.quote(str(store.path))}. It is shown only this once:", err=True)
    typer.echo(new.secret)


@token_app.command("list")
def token_list(config: ConfigOpt = None, data: DataOpt = None) -> None:
    """List tokens (never the tokens themselves)."""
    store = _tokens(config, data)
    try:
        for t in store.list():
            sites = ",".join(t.zones) or "all"
            typer.echo(f"{t.id:<8}  {t.role:<10}  {sites:<20}  {'revoked' if t.revoked_at else 'active':<8}  {t.name}")
    finally:
        store.close()


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(metavar="ID")], config: ConfigOpt = None,
                 data: DataOpt = None) -> None:
    """Revoke a token; it stops working at its next use."""
    from gateway.auth.tokens import TokenError

    store = _tokens(config, data)
    try:
        info = store.revoke(token_id)
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"Revoked token {info.id} \"{info.name}\".")
