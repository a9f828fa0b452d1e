"""Reading the site file: overrides from flags and the environment, validation of every section
(the fixed ones and those the features own), and FILE:LINE problems for `sitegate check`.

`load_site(path, overrides)` returns a validated `Site` or raises `ConfigError` with every problem.
`parse_site` is the same without raising: it also returns a best-effort `Site` (broken sections
replaced by their defaults) so `sitegate check` can go on to check the files the site refers to.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from gateway.core.errors import ConfigError, Problem
from gateway.core.site import Site, parse_listen, parse_mqtt_url, section_models
from gateway.core.yamlsource import LineMap, PathKey, load_yaml


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
    sections = section_models()
    extra = {name: data.pop(name) for name in list(data) if name in sections}
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
                site._sections[name] = sections[name].model_validate(raw if raw is not None else {})
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
    model: type[BaseModel] = Site if not prefix else section_models()[str(prefix[0])]
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
        known = list(current.model_fields) + (list(section_models()) if current is Site else [])
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
