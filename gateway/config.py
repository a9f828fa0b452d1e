"""The site file (CONTRACT.md): pydantic models, relative paths, overrides, FILE:LINE problems.

`load_site(path, overrides)` returns a validated `Site` or raises `ConfigError` with every problem.
`parse_site` is the same without raising: it also returns a best-effort `Site` (broken sections
replaced by their defaults) so `sitegate check` can go on to check the files the site refers to.

Every section forbids unknown keys, so a typo is an error at its line, not a silently ignored
setting. Relative paths are resolved against the site file's folder when the file is loaded.
Features that own a top-level section of their own (e.g. `tickets:`) register it with
`register_section`; its data is validated by their model, at the lines of the site file.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.durations import parse_duration
from gateway.errors import ConfigError, Problem
from gateway.inventory import id_problem
from gateway.yamlsource import LineMap, PathKey, load_yaml

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


def _custom(message: str) -> PydanticCustomError:
    # A custom error keeps our sentence as the message (a ValueError would get "Value error, " in front).
    return PydanticCustomError("sitegate", message)


def _duration(value: Any) -> Any:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _custom(str(exc)) from None


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are relative to the site file's folder (passed as validation context)."""
    base = (info.context or {}).get("base")
    value = value.expanduser()
    return value if value.is_absolute() or base is None else Path(base) / value


def _seconds(value: Any) -> Any:
    """A number of seconds, also written as a duration ("30s", "7d") for readability."""
    if isinstance(value, str):
        return int(_duration(value).total_seconds())
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise _custom("must be longer than zero")
    return value


def _kind(value: str) -> str:
    if problem := id_problem(value):  # a kind is a time-series tag value, like an id
        raise _custom(f"the kind name '{value}' {problem}")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise _custom(f"'{value}' is not an http:// or https:// URL; write it like http://127.0.0.1:8086")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
KindName = Annotated[str, AfterValidator(_kind)]
# YAML reads `protocol: 5` as a number and `protocol: 3.1.1` as text.
Protocol = Annotated[Literal["3.1.1", "5"], BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
Seconds = Annotated[int, BeforeValidator(_seconds), Field(ge=0)]
ResolvedPath = Annotated[Path, AfterValidator(_resolve)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteInfo(_Section):
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
            raise _custom(_tz_message(value)) from None
        return value

    @model_validator(mode="after")
    def _both_coordinates(self) -> SiteInfo:
        if (self.latitude is None) != (self.longitude is None):
            raise _custom("give both latitude and longitude (decimal degrees), or neither")
        return self


def _tz_message(value: str) -> str:
    from zoneinfo import available_timezones

    zones = available_timezones()
    lower = {z.lower(): z for z in zones}
    guess = lower.get(value.lower()) or next(iter(difflib.get_close_matches(value, zones, n=1)), None)
    hint = f"; did you mean '{guess}'?" if guess else ""
    return f"'{value}' is not an IANA time zone name; write one like Asia/Shanghai or UTC{hint}"


class MqttConfig(_Section):
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
            raise _custom(str(exc)) from None
        return value

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise _custom("is an empty list, so nothing would be received; remove it to use the profiles' "
                          "topics")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        tls_keys = [k for k in ("ca_file", "cert_file", "key_file") if getattr(self, k) is not None]
        if tls_keys and not self.tls:
            raise _custom(f"{', '.join(tls_keys)} given but url {self.url} does not use TLS; "
                          "write mqtts://HOST:PORT or remove the TLS files")
        if self.key_file is not None and self.cert_file is None:
            raise _custom("key_file needs cert_file (the client certificate it belongs to); add it")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise _custom("reconnect_max_s must not be smaller than reconnect_min_s")
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


class HttpConfig(_Section):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, value: Any) -> Any:
        try:
            parse_listen(str(value))
        except ValueError as exc:
            raise _custom(str(exc)) from None
        return str(value)

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]


class StorageConfig(_Section):
    path: ResolvedPath = Field(default=Path("data"), validate_default=True)


class InfluxConfig(_Section):
    url: Annotated[str, AfterValidator(_http_url)]
    org: str
    bucket: str
    token_env: str | None = None
    token_file: ResolvedPath | None = None


class TimeseriesConfig(_Section):
    embedded: bool = True
    influxdb: InfluxConfig | None = None


class IngestConfig(_Section):
    max_payload_bytes: int = Field(default=65536, ge=1)
    max_topic_length: int = Field(default=256, ge=1, le=65535)
    max_devices: int = Field(default=10_000, ge=1)
    max_pending: int = Field(default=20_000, ge=1)
    batch_max: int = Field(default=1000, ge=1)
    batch_interval_ms: int = Field(default=5, ge=0)
    deadletter_max: int = Field(default=10_000, ge=0)
    max_clock_skew: Duration = timedelta(minutes=10)


class DevicesConfig(_Section):
    profiles: Annotated[list[ResolvedPath], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    heartbeat: dict[KindName, PositiveDuration] = Field(default_factory=lambda: dict(DEFAULT_HEARTBEAT))

    @field_validator("heartbeat")
    @classmethod
    def _with_defaults(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        # A site lists only the kinds it changes; every other kind keeps its default.
        return {**DEFAULT_HEARTBEAT, **value}


class Site(_Section):
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

    def section(self, model: type[M]) -> M:
        """The validated extra section registered with `model` (its defaults when the file has none)."""
        for name in _SECTIONS:
            if _section_model(name) is model:
                found = self._sections.get(name)
                return found if isinstance(found, model) else model.model_validate({})
        raise KeyError(f"{model.__name__} is not a registered site file section; call register_section")


# Top-level sections owned by feature modules: name -> model, or "module:Class" imported only when a
# site file has that section (so loading a site never imports a feature it does not use).
_SECTIONS: dict[str, type[BaseModel] | str] = {"tickets": "gateway.tickets.policy:TicketPolicy",
                                                 "auth": "gateway.auth.config:AuthConfig"}


def register_section(name: str, model: type[BaseModel] | str) -> None:
    """Let a feature own a top-level key of the site file, validated by `model` (or "module:Class")."""
    if name in Site.model_fields:
        raise ValueError(f"'{name}' is a fixed section of the site file and cannot be registered")
    _SECTIONS[name] = model


def _section_model(name: str) -> type[BaseModel]:
    model = _SECTIONS[name]
    if isinstance(model, str):
        module, _, attr = model.partition(":")
        model = getattr(importlib.import_module(module), attr)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"section '{name}' names {module}:{attr}, which is not a pydantic model")
        _SECTIONS[name] = model
    return model


@dataclass(frozen=True)
class Overrides:
    """Per-environment values that win over the site file (CLI flags, else environment variables)."""

    mqtt_url: str | None = None
    http: str | None = None
    data: str | None = None
    # Names of the values that came from the environment, so a bad one is blamed on the right source.
    from_env_vars: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, mqtt_url: str | None = None, http: str | None = None, data: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Overrides:
        """Flags as given; each flag left out is taken from its SITEGATE_* variable (`environ` for tests)."""
        env = os.environ if environ is None else environ
        values: dict[str, str | None] = {"mqtt_url": mqtt_url, "http": http, "data": data}
        used: set[str] = set()
        for name in values:
            if values[name] is None and env.get(_ENV[name]):
                values[name] = env[_ENV[name]]
                used.add(name)
        return cls(**values, from_env_vars=frozenset(used))

    def source(self, name: str) -> str:
        return _ENV[name] if name in self.from_env_vars else _FLAG[name]


NO_OVERRIDES = Overrides()
_ENV = {"mqtt_url": "SITEGATE_MQTT_URL", "http": "SITEGATE_HTTP", "data": "SITEGATE_DATA"}
_FLAG = {"mqtt_url": "--mqtt-url", "http": "--http", "data": "--data"}
_DEFAULTS: dict[str, Any] = {"site": {"id": "site", "timezone": "UTC"}}


def load_site(path: Path | None, overrides: Overrides = NO_OVERRIDES) -> Site:
    """The validated site (bundled defaults when `path` is None); raises ConfigError with every problem."""
    site, problems = parse_site(path, overrides)
    if problems or site is None:
        raise ConfigError(problems)
    return site


def parse_site(path: Path | None, overrides: Overrides = NO_OVERRIDES) -> tuple[Site | None, list[Problem]]:
    """Every problem in the site file, and the best Site that can be made of it (None if none)."""
    if path is None:
        data: Any = {key: dict(value) for key, value in _DEFAULTS.items()}
        lines, base = LineMap("<defaults>", {(): 1}), Path.cwd()
    else:
        try:
            data, lines = load_yaml(path)
        except ConfigError as exc:
            return None, list(exc.problems)
        base = path.absolute().parent
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return None, [Problem(path, 1, "a site file is a mapping of sections (site:, mqtt:, http:, ...); "
                                           "see docs/configuration.md for an example")]
    data = dict(data)
    problems = _apply_overrides(data, overrides)
    extra = {name: data.pop(name) for name in list(data) if name in _SECTIONS}
    site, found, bad = _validate(data, lines, base)
    problems += found
    if site is None:
        # Put defaults in place of the broken sections, so the files the site refers to get checked too.
        data = {k: v for k, v in data.items() if k not in bad}
        if "site" in bad or "site" not in data:
            data["site"] = dict(_DEFAULTS["site"])
        site = _validate(data, lines, base)[0]
    if site is not None:
        site._file = path.absolute() if path is not None else None
        site._lines = lines
        for name, raw in extra.items():
            try:
                site._sections[name] = _section_model(name).model_validate(raw if raw is not None else {})
            except ValidationError as exc:
                problems += _problems(exc, lines, (name,))
        problems += reference_problems(site)
    # Overrides first, then the site file from top to bottom (sorted() is stable).
    return site, sorted(problems, key=lambda p: (p.file == path, p.line))


def _apply_overrides(data: dict[str, Any], overrides: Overrides) -> list[Problem]:
    problems = []
    checks = {"mqtt_url": parse_mqtt_url, "http": parse_listen}
    for name, section, key in (("mqtt_url", "mqtt", "url"), ("http", "http", "listen"),
                               ("data", "storage", "path")):
        value: str | None = getattr(overrides, name)
        if value is None:
            continue
        if name in checks:
            try:
                checks[name](value)
            except ValueError as exc:
                problems.append(Problem(overrides.source(name), 1, str(exc)))
                continue
        else:
            value = str(Path(value).expanduser().absolute())  # relative to where the command runs
        current = data.get(section)
        data[section] = {**(current if isinstance(current, dict) else {}), key: value}
    return problems


def _validate(data: dict[str, Any], lines: LineMap, base: Path
              ) -> tuple[Site | None, list[Problem], set[str]]:
    try:
        return Site.model_validate(data, context={"base": base}), [], set()
    except ValidationError as exc:
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        return None, _problems(exc, lines), bad


def _problems(exc: ValidationError, lines: LineMap, prefix: PathKey = ()) -> list[Problem]:
    """One FILE:LINE problem per pydantic error, with the key path and a spelling hint for typos."""
    model: type[BaseModel] = Site if not prefix else _section_model(str(prefix[0]))
    out = []
    for err in exc.errors():
        loc = (*prefix, *(p for p in err["loc"] if isinstance(p, str | int)))
        where = ".".join(str(p) for p in loc) or "the file"
        if err["type"] == "missing":
            msg = "is required; add it"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known setting; " + _spelling_hint(model, err["loc"])
        elif err["type"] == "string_pattern_mismatch" and loc[-1] == "id":
            msg = "must be 1-64 letters, digits, '-' or '_' (it is part of MQTT topics)"
        else:
            msg = err["msg"]
        out.append(lines.problem(loc, f"{where}: {msg}"))
    return out


def _spelling_hint(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    known: list[str] = []
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        field = current.model_fields.get(str(part)) if current else None
        current = next((a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)
                        and issubclass(a, BaseModel)), None) if field else None
    if current is not None:
        known = list(current.model_fields) + (list(_SECTIONS) if current is Site else [])
    guess = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if guess:
        return f"did you mean '{guess[0]}'?"
    return "check its spelling or remove it" + (f" (known: {', '.join(known)})" if known else "")


def reference_problems(site: Site) -> list[Problem]:
    """Files and folders the site names that do not exist, each at the line of the key naming it."""
    wanted: list[tuple[PathKey, Path | None, str]] = [
        (("inventory",), site.inventory, "file"), (("patrol",), site.patrol, "file"),
        (("mqtt", "password_file"), site.mqtt.password_file, "file"),
        (("mqtt", "ca_file"), site.mqtt.ca_file, "file"),
        (("mqtt", "cert_file"), site.mqtt.cert_file, "file"),
        (("mqtt", "key_file"), site.mqtt.key_file, "file"),
        *((("rules", i), p, "file or folder") for i, p in enumerate(site.rules)),
        *((("devices", "profiles", i), p, "file or folder") for i, p in enumerate(site.devices.profiles)),
    ]
    if site.timeseries.influxdb is not None:
        wanted.append((("timeseries", "influxdb", "token_file"), site.timeseries.influxdb.token_file, "file"))
    problems = []
    for loc, path, what in wanted:
        if path is None:
            continue
        key = ".".join(p for p in loc if isinstance(p, str))
        if not path.exists():
            problems.append(site.problem(loc, f"{key}: {what} {path} does not exist; create it or fix the "
                                              "path (relative paths start at the site file's folder)"))
        elif what == "file" and not path.is_file():
            problems.append(site.problem(loc, f"{key}: {path} is a folder; name the file itself"))
    if site.data_dir.exists() and not site.data_dir.is_dir():
        problems.append(site.problem(("storage", "path"), f"storage.path: {site.data_dir} is a file, not "
                                                          "a folder; name a folder for the gateway's state"))
    return problems
