"""The rule file model: what a rule may say, validated by pydantic.

A rule copies the shape of a Prometheus alerting rule (`for`, labels, annotations) with a small
condition language instead of PromQL. Loading files, parameters and overrides live in
gateway/rules/loader.py, and each condition kind in gateway/rules/conditions/; this module
describes and checks one rule around its condition.
"""

from __future__ import annotations

import fnmatch
import string
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gateway.core.validation import Duration, Severity, Strict, format_duration
from gateway.rules.compare import Bounds
from gateway.rules.conditions import CLEARABLE_TYPES, Condition


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str] | None, BeforeValidator(_as_list)]


class Match(Strict):
    """Which devices and readings a rule looks at; every given key must match."""

    kind: Names = None
    zone: Names = None
    device: Names = None  # globs: "lamp-*"
    metric: Names = None

    def covers(self, device: str, kind: str, zone: str) -> bool:
        """Whether the device keys (kind, zone, device globs) let this device in; metric is not looked at."""
        return ((self.kind is None or kind in self.kind)
                and (self.zone is None or zone in self.zone)
                and (self.device is None or any(fnmatch.fnmatchcase(device, g) for g in self.device)))


class Labels(BaseModel):
    """Identity and routing; extra labels (e.g. `sla: 4h`) pass through to the ticket as text."""

    model_config = ConfigDict(extra="allow", frozen=True)
    severity: Severity
    category: str = "general"

    @model_validator(mode="before")
    @classmethod
    def _extras_are_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v if k == "severity" or isinstance(v, str) else _text(v) for k, v in data.items()}
        return data

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "category": self.category,
                **{k: str(v) for k, v in (self.model_extra or {}).items()}}


def _text(value: Any) -> str:
    # A list (`explains: [no_contact, power_loss]`) is written as the comma-separated text it means.
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


class Annotations(Strict):
    title: str
    description: str = ""


TEMPLATE_FIELDS = frozenset({"rule", "device", "zone", "kind", "metric", "value", "threshold", "severity",
                             "location", "for", "last_seen", "circuit", "channel"})
_FORMATTER = string.Formatter()


def template_problems(template: str, allowed: frozenset[str]) -> list[str]:
    """Why a template cannot be rendered safely; only plain {names} (with a format spec) are allowed."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        return [f"the template is not valid: {exc}; write {{{{ and }}}} for literal braces"]
    out = []
    for _, name, _, _ in parsed:
        if name is not None and name not in allowed:
            out.append(f"unknown template field {{{name}}}; use one of " + ", ".join(sorted(allowed)))
    return out


class Rule(Strict):
    """One validated rule, parameters already substituted. `source` is set by the loader."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    match: Match = Match()
    condition: Condition
    clear: Bounds | None = None
    for_: Duration = Field(timedelta(0), alias="for")
    labels: Labels
    annotations: Annotations
    auto_resolve: bool = False
    enabled: bool = True
    # Every channel of a multi-channel device on its own (`current_a`, `current_a_2` ... of a board
    # meter, one per way): each channel has its own alert, labelled with its channel and circuit.
    per_channel: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    source: str = ""  # FILE:LINE where the rule is defined (set by the loader)
    # Set by the loader for an override with `match:` (a site's change for some devices only): the
    # rule as changed for the devices of `scope`, numbered `variant` among that rule's scoped
    # overrides. `outside` are the scopes it leaves to other variants of the same rule (the base rule
    # leaves every scope; a variant the ones listed before it), so each device has one of them.
    scope: Match | None = None
    outside: tuple[Match, ...] = ()
    variant: int = 0

    @property
    def key(self) -> str:
        """The rule's name in the engine: its id, or `id@n` for the variant of its n-th scoped override."""
        return f"{self.id}@{self.variant}" if self.variant else self.id

    def watches(self, device: str, kind: str, zone: str) -> bool:
        """Whether this rule (or variant) is the one for this device."""
        return (self.match.covers(device, kind, zone)
                and (self.scope is None or self.scope.covers(device, kind, zone))
                and not any(m.covers(device, kind, zone) for m in self.outside))

    @property
    def metric(self) -> str | None:
        """The single metric of the rule, when it names exactly one."""
        m = self.match.metric
        return m[0] if m and len(m) == 1 else None

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        cond = self.condition
        cond.check(self)
        if self.per_channel and not self.match.metric and cond.type != "state":
            raise ValueError("`per_channel` watches each channel of a metric; give `match.metric` (a state "
                             "condition names its own metrics)")
        if self.clear is not None:
            if not cond.clearable:
                raise ValueError(f"`clear` is only for {_and(CLEARABLE_TYPES)} rules, not {cond.type}; "
                                 "remove it (the rule clears when its condition stops holding)")
            if not self.clear.bounded():
                raise ValueError("`clear` needs a comparison such as `above: 1.1`")
            cond.check_clear(self.clear)
        allowed = TEMPLATE_FIELDS | frozenset(self.params)
        for text in (self.annotations.title, self.annotations.description):
            if problems := template_problems(text, allowed):
                raise ValueError(problems[0])
        return self


def _and(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


class _PlainFormatter(string.Formatter):
    """Only plain names: `{value.__class__}` or `{x[0]}` are left as written, never looked up."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if not field_name.isidentifier():
            return "{" + field_name + "}", field_name
        return kwargs.get(field_name, "{" + field_name + "}"), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if not format_spec:
            return _show(value)
        return format(value, format_spec)


_PLAIN = _PlainFormatter()


def render(template: str, fields: dict[str, Any]) -> str:
    """Fill a template with plain values. Never evaluates anything; a bad format spec falls back."""
    try:
        return _PLAIN.vformat(template, (), fields)
    except (ValueError, TypeError):
        try:
            return _PLAIN.vformat(template, (), {k: _show(v) for k, v in fields.items()})
        except (ValueError, TypeError):
            return template


def _show(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, timedelta):
        return format_duration(v)
    return str(v)

