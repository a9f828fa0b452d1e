"""The `sitegate` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gateway.app.hq import hq_app
from gateway.auth.cli import token_app
from gateway.core.clock import SiteClock, site_clock
from gateway.core.errors import ConfigError

# Plain (click) help: typer's rich panels print a type beside every option, `--help <bool>` and
# `--json <bool>` included, for flags that take no value. Plain help lists a flag as just its name.
HELP_STYLE = None

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=HELP_STYLE,
                  help="Sitegate: edge gateway for property operations (patrols, lighting, fire equipment).")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Site file (YAML).")]
MqttOpt = Annotated[str | None, typer.Option("--mqtt-url", help="mqtt://HOST:PORT or mqtts://HOST:PORT "
                                             "[env SITEGATE_MQTT_URL].")]
HttpOpt = Annotated[str | None, typer.Option("--http", help="HOST:PORT for the API and dashboard "
                                             "[env SITEGATE_HTTP].")]
DataOpt = Annotated[str | None, typer.Option("--data", help="Folder where state lives [env SITEGATE_DATA].")]
LogOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]
# The shared site timeline: a gateway, a simulator and a recorder given the same values compute the
# same site time for the same wall-clock instant (gateway/core/clock.py's SiteClock).
StartOpt = Annotated[str | None, typer.Option("--start", help="Site time at the anchor, ISO 8601 with its "
                                              "offset, e.g. 2026-11-18T19:00:00+08:00 [default: the anchor's "
                                              "wall-clock time].")]
SpeedOpt = Annotated[float, typer.Option("--speed", help="Site clock speed-up (1 is real time).")]
RealStartOpt = Annotated[float | None, typer.Option("--real-start", help="The anchor: the Unix time (seconds) "
                                                    "at which site time is --start [default: when the process "
                                                    "starts]. Before it the site clock holds at --start.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Site time (ISO 8601 with its offset) at which "
                                              "the site clock stops.")]


def _timeline(start: str | None, speed: float, real_start: float | None, until: str | None,
              *, always: bool = False) -> SiteClock | None:
    """The SiteClock the timeline options describe; None when none is given (and not `always`):
    then the process keeps the plain wall clock."""
    if not always and start is None and speed == 1.0 and real_start is None and until is None:
        return None
    try:
        return site_clock(start, speed, real_start, until)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _load(config: Path | None, mqtt_url: str | None, http: str | None, data: str | None):  # type: ignore[no-untyped-def]
    from gateway.core.siteload import Overrides, load_site

    try:
        return load_site(config, Overrides.from_env(mqtt_url=mqtt_url, http=http, data=data))
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None


@app.command()
def run(config: ConfigOpt = None, mqtt_url: MqttOpt = None, http: HttpOpt = None, data: DataOpt = None,
        log_level: LogOpt = "info", start: StartOpt = None, speed: SpeedOpt = 1.0,
        real_start: RealStartOpt = None, until: UntilOpt = None) -> None:
    """Run the gateway (the production service). The timeline options run it on an accelerated site
    clock instead of the wall clock (tests, demonstrations): never on a real site."""
    from gateway.app.runner import serve
    from gateway.core.logs import setup_logging

    clock = _timeline(start, speed, real_start, until)
    setup_logging(log_level)
    site = _load(config, mqtt_url, http, data)
    serve(site, clock=clock)


@app.command()
def check(config: Annotated[Path, typer.Option("--config", "-c", help="Site file (YAML).")],
          mqtt_url: MqttOpt = None, http: HttpOpt = None, data: DataOpt = None) -> None:
    """Validate the site file and everything it refers to; one FILE:LINE line per problem."""
    from gateway.app.check import check_site
    from gateway.core.siteload import Overrides

    problems = check_site(config, Overrides.from_env(mqtt_url=mqtt_url, http=http, data=data))
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{config}: OK")


@app.command()
def demo(http: HttpOpt = None, data: DataOpt = None, log_level: LogOpt = "warning",
         speed: Annotated[float, typer.Option("--speed", help="Site clock speed-up.")] = 60.0,
         rate: Annotated[float, typer.Option("--rate", help="Baseline messages per second.")] = 40.0,
         sites: Annotated[int, typer.Option("--sites", help="Run a head office and this many sites, each on "
                                            "its own mosquitto bridged to head office's (needs mosquitto).")] = 0,
         ) -> None:
    """Zero set-up: embedded broker, the gateway on the demo site, simulated traffic, dashboard. With
    --sites N: a head office (fleet page) and N demo sites, as a company deploys them."""
    from gateway.core.logs import setup_logging

    setup_logging(log_level)
    if sites:
        from gateway.app.demo_fleet import run_fleet_demo

        try:
            run_fleet_demo(sites, http=http, data=data, speed=speed, rate=rate / 2)
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        return
    from gateway.app.demo import run_demo

    run_demo(http=http, data=data, speed=speed, rate=rate)


@app.command()
def record(output: Annotated[Path, typer.Option("-o", "--output", help="Capture file (JSON lines).")],
           mqtt_url: Annotated[str | None, typer.Option("--mqtt-url", help="Broker to record from (with "
                                                        "--config: instead of the site's).")] = None,
           topic: Annotated[list[str] | None, typer.Option("--topic", help="Topic filter (repeatable) [default: "
                                                           "with --config the site gateway's, else #].")] = None,
           count: Annotated[int | None, typer.Option("--count", help="Stop after N messages.")] = None,
           config: Annotated[Path | None, typer.Option("--config", "-c", help="Site file: record from its broker "
                                                       "what its gateway subscribes to.")] = None,
           start: StartOpt = None, speed: SpeedOpt = 1.0, real_start: RealStartOpt = None,
           until: UntilOpt = None) -> None:
    """Record live broker traffic in the replay format (Ctrl-C or SIGTERM stops). Each message is
    stamped with its arrival on the site timeline the timeline options give (default: the wall clock)."""
    import asyncio

    from gateway.ingest.broker import Broker
    from gateway.ingest.gateway import site_subscriptions
    from gateway.ingest.record import record_until_signal

    clock = _timeline(start, speed, real_start, until)
    if config is None and mqtt_url is None:
        typer.echo("Say where to record from: --mqtt-url mqtt://HOST:PORT, or --config SITE.yaml to record what "
                   "that site's gateway takes from its broker.", err=True)
        raise typer.Exit(2)
    try:
        if config is not None:
            site = _load(config, mqtt_url, None, None)
            broker, topics = Broker.from_site(site), topic or site_subscriptions(site)
        else:
            broker, topics = Broker.from_url(mqtt_url or ""), topic or ["#"]
    except ValueError as exc:
        typer.echo(f"--mqtt-url: {exc}", err=True)
        raise typer.Exit(2) from None
    n = asyncio.run(record_until_signal(broker, topics, output, limit=count, clock=clock))
    typer.echo(f"recorded {n} messages to {output}")


@app.command()
def simulate(config: Annotated[Path, typer.Option("--config", "-c", help="Site file (YAML).")],
             mqtt_url: MqttOpt = None, http: HttpOpt = None, data: DataOpt = None,
             rate: Annotated[float, typer.Option("--rate", help="Baseline messages per second.")] = 20.0,
             duration: Annotated[float | None, typer.Option("--duration", help="Seconds to run.")] = None,
             speed: SpeedOpt = 1.0, start: StartOpt = None, real_start: RealStartOpt = None,
             until: UntilOpt = None,
             seed: Annotated[int, typer.Option("--seed", help="Which night of faults and rounds: the same "
                                               "seed plays the same script.")] = 7,
             log_level: LogOpt = "info") -> None:
    """Publish simulated device traffic (with faults and patrol rounds) for the site to its broker.

    With --real-start in the future it waits for it; with --until it stops when the site clock gets
    there. The faults of the night are logged as they start and listed at the end."""
    from gateway.app.simulator.engine import run_simulation
    from gateway.core.logs import setup_logging

    clock = _timeline(start, speed, real_start, until, always=True)
    if not rate > 0:
        typer.echo(f"--rate must be above 0 messages per second; got {rate}.", err=True)
        raise typer.Exit(2)
    setup_logging(log_level)
    site = _load(config, mqtt_url, http, data)
    url = f"mqtt{'s' if site.mqtt.tls else ''}://{site.mqtt.host}:{site.mqtt.port}"
    stats = run_simulation(site, mqtt_url=url, rate=rate, duration=duration, seed=seed, clock=clock)
    for fault in stats.faults:
        typer.echo(f"fault: {fault}")
    typer.echo(f"published {stats.published} messages")


@app.command()
def serial(port: Annotated[str, typer.Option("--port", help="Device path or pyserial URL (loop://).")],
           reader: Annotated[str, typer.Option("--reader", help="rdm6300 or line.")],
           device_id: Annotated[str, typer.Option("--device-id", help="The reader's device id.")],
           config: ConfigOpt = None, mqtt_url: MqttOpt = None, http: HttpOpt = None, data: DataOpt = None,
           log_level: LogOpt = "info") -> None:
    """Bridge a serial checkpoint reader to MQTT as native tap messages."""
    import signal
    import threading

    from gateway.app.serial_bridge import BridgePublisher
    from gateway.core.logs import setup_logging
    from gateway.patrol.serial_reader import run_bridge

    if reader not in ("rdm6300", "line"):
        typer.echo(f"--reader {reader!r} is not known; use rdm6300 or line.", err=True)
        raise typer.Exit(2)
    setup_logging(log_level)
    site = _load(config, mqtt_url, http, data)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: stop.set())
    with BridgePublisher(site, device_id) as publisher:
        stats = run_bridge(port, reader=reader, device_id=device_id, site_id=site.site.id,
                           publisher=publisher, stop=stop)
    typer.echo(f"bridged {stats}")


@app.command()
def replay(capture: Annotated[Path, typer.Argument(help="Capture file (JSON lines).")],
           config: ConfigOpt = None, mqtt_url: MqttOpt = None, http: HttpOpt = None, data: DataOpt = None,
           until: Annotated[str | None, typer.Option("--until", help="Stop at this time (ISO 8601).")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False) -> None:
    """Feed recorded traffic through decode, rules and patrol on the recorded clock; print tickets."""
    from datetime import datetime

    import orjson

    from gateway.app.replay import replay as do_replay

    site = _load(config, mqtt_url, http, data)
    stop_at = None
    if until:
        try:
            stop_at = datetime.fromisoformat(until)
        except ValueError:
            typer.echo(f"--until {until!r} is not an ISO 8601 time like 2026-11-21T06:00:00+08:00.", err=True)
            raise typer.Exit(2) from None
        if stop_at.tzinfo is None:
            stop_at = stop_at.replace(tzinfo=site.tz)
    try:
        result = do_replay(capture, site, until=stop_at)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    typer.echo(f"{result.messages} messages replayed, {result.rejected} rejected")
    for t in result.tickets:
        typer.echo(f"{t['id']}  {t['status']:<12} {t['severity']:<8} {t['opened_at']}  {t['rule']}  "
                   f"{t['device_id']}  {t['title']}")
    for r in result.rounds:
        typer.echo(f"round {r['round_id']}  {r['status']}  coverage {r['coverage']:.0%}  missed {r['missed']}")


app.add_typer(token_app, name="token")
app.add_typer(hq_app, name="hq")

rules_app = typer.Typer(help="Rule tools.", rich_markup_mode=HELP_STYLE)
app.add_typer(rules_app, name="rules")


@rules_app.command("test")
def rules_test(files: Annotated[list[Path], typer.Argument(help="Rule test files.")]) -> None:
    """Run rule unit-test files (readings at times -> expected alerts); exit 1 on any failure."""
    from gateway.rules.testing import rules_test_main

    raise typer.Exit(rules_test_main(files))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
