"""The site file (CONTRACT.md): its sections as pydantic models (reading it is siteload.py).

Every section forbids unknown keys, so a typo is an error at its line, not a silently ignored
setting. Relative paths are resolved against the site file's folder when the file is loaded.
Features that own a top-level section of their own (e.g. `tickets:`) declare it in their
`feature.py`; its data is validated by their model, at the lines of the site file (siteload.py).
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.core.errors import Problem
from gateway.core.validation import Duration, PositiveDuration, Strict, as_duration, id_problem, problem
from gateway.core.yamlsource import LineMap, PathKey

M = TypeVar("M", bound=BaseModel)

# How long each kind of device may stay silent before it counts as offline. Mains devices report
# every few minutes (Tasmota's default teleperiod is 5 min: 15 min is three missed reports); battery
# fire equipment reports a few times a day; handheld readers upload when docked.
DEFAULT_HEARTBEAT: dict[str, timedelta] = {
    "lamp": timedelta(minutes=15),
    "lux_sensor": timedelta(minutes=15),
    "power_meter": timedelta(minutes=15),
    "extinguisher": timedelta(hours=6),
    "hydrant": timedelta(hours=6),
    "sprinkler": timedelta(hours=6),
    "smoke_detector": timedelta(hours=6),
    "fire_door": timedelta(hours=2),
    "checkpoint_reader": timedelta(hours=1),
    "handheld_reader": timedelta(days=1),
    "unknown": timedelta(hours=1),
}



def parse_mqtt_url(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) of mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; ValueError saying the form."""
    form = "write it as mqtt://HOST:PORT (or mqtts://HOST:PORT for TLS), e.g. mqtt://127.0.0.1:1883"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"'{url}' is not a valid MQTT URL (bad port); {form}") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"'{url}' is not an MQTT URL; {form}")
    if parts.username is not None:
        raise ValueError(f"'{url}' contains a user name; put it in mqtt.username and the password in "
                         "mqtt.password_env or mqtt.password_file")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"'{url}' has a path or query, which MQTT does not use; {form}")
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


def parse_listen(text: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT or [IPv6]:PORT; ValueError saying the form."""
    form = "write HOST:PORT, e.g. 127.0.0.1:8080 (or 0.0.0.0:8080 to listen on every interface)"
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"'{text}' is not a listen address; {form}")
    return host, int(port)


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are relative to the site file's folder (passed as validation context)."""
    base = (info.context or {}).get("base")
    value = value.expanduser()
    return value if value.is_absolute() or base is None else Path(base) / value


def _seconds(value: Any) -> Any:
    """A number of seconds, also written as a duration ("30s", "7d") for readability."""
    if isinstance(value, str):
        return int(as_duration(value).total_seconds())
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _kind(value: str) -> str:
    if why := id_problem(value):  # a kind is a time-series tag value, like an id
        raise problem(f"the kind name '{value}' {why}")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise problem(f"'{value}' is not an http:// or https:// URL; write it like http://127.0.0.1:8086")
    return value


KindName = Annotated[str, AfterValidator(_kind)]
# YAML reads `protocol: 5` as a number and `protocol: 3.1.1` as text.
Protocol = Annotated[Literal["3.1.1", "5"], BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
Seconds = Annotated[int, BeforeValidator(_seconds), Field(ge=0)]
ResolvedPath = Annotated[Path, AfterValidator(_resolve)]


class SiteInfo(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    name: str = ""
    timezone: str
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            raise problem(_tz_message(value)) from None
        return value

    @model_validator(mode="after")
    def _both_coordinates(self) -> SiteInfo:
        if (self.latitude is None) != (self.longitude is None):
            raise problem("give both latitude and longitude (decimal degrees), or neither")
        return self


def _tz_message(value: str) -> str:
    from zoneinfo import available_timezones

    zones = available_timezones()
    lower = {z.lower(): z for z in zones}
    guess = lower.get(value.lower()) or next(iter(difflib.get_close_matches(value, zones, n=1)), None)
    hint = f"; did you mean '{guess}'?" if guess else ""
    return f"'{value}' is not an IANA time zone name; write one like Asia/Shanghai or UTC{hint}"


class MqttConfig(Strict):
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = Field(default="", description="filled with sitegate-<site id> when not given")
    protocol: Protocol = "3.1.1"
    username: str | None = None
    password_env: str | None = None
    password_file: ResolvedPath | None = None
    ca_file: ResolvedPath | None = None
    cert_file: ResolvedPath | None = None
    key_file: ResolvedPath | None = None
    tls_insecure: bool = False
    keepalive_s: Seconds = 30
    reconnect_min_s: Seconds = 1
    reconnect_max_s: Seconds = 4  # a broker that returns is found within seconds
    receive_maximum: int = Field(default=1000, ge=1, le=65535)
    session_expiry_s: Seconds = 7 * 24 * 3600
    topics: list[str] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parse_mqtt_url(value)
        except ValueError as exc:
            raise problem(str(exc)) from None
        return value

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise problem("is an empty list, so nothing would be received; remove it to use the profiles' "
                          "topics")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        tls_keys = [k for k in ("ca_file", "cert_file", "key_file") if getattr(self, k) is not None]
        if tls_keys and not self.tls:
            raise problem(f"{', '.join(tls_keys)} given but url {self.url} does not use TLS; "
                          "write mqtts://HOST:PORT or remove the TLS files")
        if self.key_file is not None and self.cert_file is None:
            raise problem("key_file needs cert_file (the client certificate it belongs to); add it")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise problem("reconnect_max_s must not be smaller than reconnect_min_s")
        return self

    @property
    def host(self) -> str:
        return parse_mqtt_url(self.url)[0]

    @property
    def port(self) -> int:
        return parse_mqtt_url(self.url)[1]

    @property
    def tls(self) -> bool:
        return parse_mqtt_url(self.url)[2]


class HttpConfig(Strict):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, value: Any) -> Any:
        try:
            parse_listen(str(value))
        except ValueError as exc:
            raise problem(str(exc)) from None
        return str(value)

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]


class StorageConfig(Strict):
    path: ResolvedPath = Field(default=Path("data"), validate_default=True)


class InfluxConfig(Strict):
    url: Annotated[str, AfterValidator(_http_url)]
    org: str
    bucket: str
    token_env: str | None = None
    token_file: ResolvedPath | None = None


class TimeseriesConfig(Strict):
    embedded: bool = True
    influxdb: InfluxConfig | None = None


class IngestConfig(Strict):
    max_payload_bytes: int = Field(default=65536, ge=1)
    max_topic_length: int = Field(default=256, ge=1, le=65535)
    max_devices: int = Field(default=10_000, ge=1)
    max_pending: int = Field(default=20_000, ge=1)
    batch_max: int = Field(default=1000, ge=1)
    deadletter_max: int = Field(default=10_000, ge=0)
    max_clock_skew: Duration = timedelta(minutes=10)


class DevicesConfig(Strict):
    profiles: Annotated[list[ResolvedPath], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    # Topic levels that differ between sites, by profile and parameter: {zigbee2mqtt: {base_topic: z2m}}.
    # Checked against the loaded profiles (gateway/devices/params.py), which declare them with defaults.
    params: dict[str, dict[str, str]] = Field(default_factory=dict)
    heartbeat: dict[KindName, PositiveDuration] = Field(default_factory=lambda: dict(DEFAULT_HEARTBEAT))

    @field_validator("heartbeat")
    @classmethod
    def _with_defaults(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        # A site lists only the kinds it changes; every other kind keeps its default.
        return {**DEFAULT_HEARTBEAT, **value}


class Site(Strict):
    """The validated site file. Paths are absolute; `data_dir`, `file` and `tz` are ready to use."""

    site: SiteInfo
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    inventory: ResolvedPath | None = None
    patrol: ResolvedPath | None = None
    rules: Annotated[list[ResolvedPath], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    builtin_rules: bool = True
    timeseries: TimeseriesConfig = Field(default_factory=TimeseriesConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    devices: DevicesConfig = Field(default_factory=DevicesConfig)

    _file: Path | None = PrivateAttr(default=None)
    _lines: LineMap | None = PrivateAttr(default=None)
    _sections: dict[str, BaseModel] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and "storage" not in data:
            data = {**data, "storage": {}}  # so the default ./data is resolved against the site's folder
        # A fixed client id is what makes the broker keep our persistent session across restarts.
        if isinstance(data, dict) and isinstance(data.get("site"), dict) and "id" in data["site"]:
            mqtt = data.get("mqtt", {})
            if isinstance(mqtt, dict) and not mqtt.get("client_id"):
                data = {**data, "mqtt": {**mqtt, "client_id": f"sitegate-{data['site']['id']}"}}
        return data

    @property
    def file(self) -> Path | None:
        """The site file, or None when running on the bundled defaults."""
        return self._file

    @property
    def data_dir(self) -> Path:
        return self.storage.path

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    def problem(self, loc: PathKey, message: str) -> Problem:
        """A FILE:LINE problem at the value `loc` of the site file (for checkers of other modules)."""
        if self._lines is None:
            return Problem(self._file or "<defaults>", 1, message)
        return self._lines.problem(loc, message)

    def has_section(self, key: str) -> bool:
        """Whether the site file has the feature section `key` (a feature the file switches on)."""
        return key in self._sections

    def section(self, model: type[M]) -> M:
        """The validated section a feature owns, by its model (its defaults when the file has none)."""
        for name, owned in section_models().items():
            if owned is model:
                found = self._sections.get(name)
                return found if isinstance(found, model) else model.model_validate({})
        raise KeyError(f"{model.__name__} is not the section of any feature (see gateway/core/plugins.py)")


def section_models() -> dict[str, type[BaseModel]]:
    """Top-level keys of the site file owned by features (their `feature.py` declares `SECTION`)."""
    from gateway.core.plugins import feature_modules  # discovery imports the features by name

    found: dict[str, type[BaseModel]] = {}
    for module in feature_modules():
        if module.SECTION is None:
            continue
        key, model = module.SECTION
        if key in Site.model_fields:
            raise ValueError(f"{module.__name__} declares the section '{key}', which is a fixed section of "
                             "the site file; give its section another name")
        found[key] = model
    return found
