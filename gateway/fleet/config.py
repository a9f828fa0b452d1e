"""The head office file, `hq.yaml` (docs/headoffice.md):

```yaml
hq: {id: estate-hq, name: 总部 Head office, timezone: Asia/Shanghai}
mqtt: {url: mqtt://127.0.0.1:1883, group: sitegate-hq, replica: a}
http: {listen: 127.0.0.1:8090}
storage: {path: ./hq-data}                               # SQLite here unless `database` is given
database: {url: postgresql+psycopg://hq@127.0.0.1/hq}    # several replicas share one PostgreSQL
sites:
  - {id: harbor-view, name: 海景花园 Harbor View, dashboard: http://10.1.0.5:8080/}
retention: {health_events: 7d}                           # 0s keeps them
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field

from gateway.auth.config import AuthConfig
from gateway.core.errors import ConfigError, Problem
from gateway.core.site import HttpConfig, MqttConfig, Protocol, SiteInfo, StorageConfig
from gateway.core.validation import Duration, Strict, problem
from gateway.core.yamlsource import load_yaml, validate


def _dashboard(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise problem(f"'{value}' is not an http:// or https:// link to the site's own dashboard")
    return value


class HqInfo(SiteInfo):
    """Who this head office is: id, name, time zone (reports and "last night" are in this zone)."""


class FleetMqtt(MqttConfig):
    group: str = Field(default="sitegate-hq", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                       description="the shared subscription's group: replicas of one head office share it")
    replica: str = Field(default="1", pattern=r"^[A-Za-z0-9_-]{1,32}$",
                         description="this replica's name; the client id is sitegate-hq-<hq id>-<replica>")
    protocol: Protocol = "5"  # shared subscriptions and per-client Receive Maximum are MQTT 5
    # A safety net for one replica of each head office: a plain persistent subscription beside the
    # shared one. Debian's mosquitto 2.0.11 restores shared subscriptions after a restart but queues
    # nothing for them until their client is back, so events that arrive first are dropped; a plain
    # subscription is queued. Every event then arrives twice at this replica; the store keeps one.
    catchup: bool = False


class SiteEntry(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    name: str = ""
    dashboard: Annotated[str, AfterValidator(_dashboard)] | None = None
    timezone: str | None = None


class DatabaseConfig(Strict):
    url: str


class RetentionConfig(Strict):
    """How long stored events are kept. The once-a-minute health events are 97% of a site's events
    and only the latest matters (it stays in the site's row), so by default they go after 7 days;
    every other event is kept. 0s keeps health events too."""

    health_events: Duration = timedelta(days=7)


class StatusConfig(Strict):
    """How the fleet page colours a site. Sites send their health once a minute, so 5 minutes of
    silence means the gateway, its line or its bridge is down."""

    silent_after: Duration = timedelta(minutes=5)


class HqFile(Strict):
    hq: HqInfo
    mqtt: FleetMqtt = Field(default_factory=FleetMqtt)
    http: HttpConfig = Field(default_factory=lambda: HttpConfig(listen="127.0.0.1:8090"))
    storage: StorageConfig = Field(default_factory=StorageConfig)
    database: DatabaseConfig | None = None
    sites: list[SiteEntry] = Field(default_factory=list)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)


@dataclass(frozen=True)
class HqConfig:
    """The file with the command line's overrides applied."""

    file: HqFile
    data_dir: Path
    database_url: str
    mqtt: FleetMqtt
    http: HttpConfig

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.file.hq.timezone)

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"sitegate-hq-{self.file.hq.id}-{self.mqtt.replica}"


def load_hq(path: Path, *, mqtt_url: str | None = None, http: str | None = None, data: str | None = None,
            database: str | None = None, replica: str | None = None, catchup: bool = False) -> HqConfig:
    """Read and check hq.yaml (ConfigError with FILE:LINE problems), then apply the overrides."""
    if not path.is_file():
        raise ConfigError([Problem(path, 1, "the head office file does not exist; see examples/headoffice/hq.yaml")])
    raw, lines = load_yaml(path)
    if not isinstance(raw, dict) or "hq" not in raw:
        raise ConfigError([Problem(path, 1, "needs an `hq: {id, name, timezone}` section (see "
                                            "examples/headoffice/hq.yaml)")])
    file = validate(HqFile, raw, lines)
    seen: set[str] = set()
    for i, entry in enumerate(file.sites):
        if entry.id in seen:
            raise ConfigError([lines.problem(("sites", i, "id"), f"site '{entry.id}' is listed twice")])
        seen.add(entry.id)
    base = path.parent
    updates: dict[str, object] = {}
    if mqtt_url:
        updates["url"] = mqtt_url
    if replica:
        updates["replica"] = replica
    if catchup:
        updates["catchup"] = True
    try:
        mqtt = FleetMqtt.model_validate({**file.mqtt.model_dump(exclude_defaults=True), **updates}) if updates \
            else file.mqtt
        listen = HttpConfig(listen=http) if http else file.http
    except ValueError as exc:
        raise ConfigError([Problem(path, 1, f"command line override: {exc}")]) from None
    data_dir = Path(data) if data else file.storage.path
    if not data_dir.is_absolute():
        data_dir = (base / data_dir) if not data else data_dir.resolve()
    url = database or (file.database.url if file.database else f"sqlite:///{data_dir / 'hq.db'}")
    return HqConfig(file=file, data_dir=data_dir, database_url=url, mqtt=mqtt, http=listen)
