"""The `sitegate` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gateway.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Sitegate: edge gateway for property operations (patrols, lighting, fire equipment).")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Site file (YAML).")]
MqttOpt = Annotated[str | None, typer.Option("--mqtt-url", help="mqtt://HOST:PORT or mqtts://HOST:PORT "
                                             "[env SITEGATE_MQTT_URL].")]
HttpOpt = Annotated[str | None, typer.Option("--http", help="HOST:PORT for the API and dashboard "
                                             "[env SITEGATE_HTTP].")]
DataOpt = Annotated[str | None, typer.Option("--data", help="Folder where state lives [env SITEGATE_DATA].")]
LogOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def _load(config: Path | None, mqtt_url: str | None, http: str | None, data: str | None):  # type: ignore[no-untyped-def]
    from gateway.config import Overrides, load_site

    try:
        return load_site(config, Overrides.from_env(mqtt_url=mqtt_url, http=http, data=data))
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None


@app.command()
def run(config: ConfigOpt = None, mqtt_url: MqttOpt = None, http: HttpOpt = None, data: DataOpt = None,
        log_level: LogOpt = "info") -> None:
    """Run the gateway (the production service)."""
    from gateway.logs import setup_logging
    from gateway.runner import serve

    setup_logging(log_level)
    site = _load(config, mqtt_url, http, data)
    serve(site)


@app.command()
def check(config: Annotated[Path, typer.Option("--config", "-c", help="Site file (YAML).")],
          mqtt_url: MqttOpt = None, http: HttpOpt = None, data: DataOpt = None) -> None:
    """Validate the site file and everything it refers to; one FILE:LINE line per problem."""
    from gateway.check import check_site
    from gateway.config import Overrides

    problems = check_site(config, Overrides.from_env(mqtt_url=mqtt_url, http=http, data=data))
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{config}: OK")


@app.command()
def demo(http: HttpOpt = None, data: DataOpt = None, log_level: LogOpt = "info") -> None:
    """Zero set-up: embedded broker, the gateway on the demo site, simulated traffic, dashboard."""
    from gateway.demo import run_demo
    from gateway.logs import setup_logging

    setup_logging(log_level)
    run_demo(http=http, data=data)


@app.command()
def record(mqtt_url: Annotated[str, typer.Option("--mqtt-url", help="Broker to record from.")],
           output: Annotated[Path, typer.Option("-o", "--output", help="Capture file (JSON lines).")],
           topic: Annotated[list[str] | None, typer.Option("--topic", help="Topic filter (repeatable).")] = None,
           count: Annotated[int | None, typer.Option("--count", help="Stop after N messages.")] = None) -> None:
    """Record live broker traffic in the replay format (Ctrl-C stops)."""
    import asyncio

    from gateway.record import record as do_record

    n = asyncio.run(do_record(mqtt_url, topic or ["#"], output, limit=count))
    typer.echo(f"recorded {n} messages to {output}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
