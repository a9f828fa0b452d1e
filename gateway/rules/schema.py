"""The rule file model: what a rule may say, validated by pydantic.

A rule copies the shape of a Prometheus alerting rule (`for`, labels, annotations) with a small
condition language instead of PromQL. Loading files, parameters and overrides live in
gateway/rules/loader.py; this module only describes and checks one rule.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

from gateway.core.model import Value
from gateway.core.validation import Duration, Severity, Strict

Scalar = StrictBool | int | float | str


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str] | None, BeforeValidator(_as_list)]


def _number(v: Value) -> float | None:
    # A bool is not a number here: `pressure below 1.0` must not fire on `true`.
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class Bounds(Strict):
    """A comparison; several keys mean all must hold (`{at_least: 0, below: 30}` is a range)."""

    below: float | None = None
    at_most: float | None = None
    above: float | None = None
    at_least: float | None = None
    equals: Scalar | None = None
    not_equals: Scalar | None = None

    def bounded(self) -> bool:
        return any(getattr(self, k) is not None for k in _BOUND_KEYS)

    def test(self, v: Value) -> bool | None:
        """True/False, or None when the value cannot be compared (text against a number)."""
        if self.equals is not None and not _same(v, self.equals):
            return False
        if self.not_equals is not None and _same(v, self.not_equals):
            return False
        if self.below is None and self.at_most is None and self.above is None and self.at_least is None:
            return True
        x = _number(v)
        if x is None:
            return None
        return not (
            (self.below is not None and not x < self.below)
            or (self.at_most is not None and not x <= self.at_most)
            or (self.above is not None and not x > self.above)
            or (self.at_least is not None and not x >= self.at_least)
        )

    def threshold(self) -> Scalar | None:
        """The bound shown to people as {threshold}."""
        for key in _BOUND_KEYS:
            if (v := getattr(self, key)) is not None:
                return v  # type: ignore[no-any-return]
        return None


_BOUND_KEYS = ("below", "at_most", "above", "at_least", "equals", "not_equals")


def _same(a: Value, b: Value) -> bool:
    # true must not equal 1: a boolean state and a number are different things.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


class _NeedsBound(Bounds):
    @model_validator(mode="after")
    def _one_bound(self) -> _NeedsBound:
        if not self.bounded():
            raise ValueError("needs a comparison: one of below, at_most, above, at_least, equals, not_equals")
        return self


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


class During(Strict):
    """When a schedule-aware condition applies, in the site's time zone and sky."""

    sun_below: float | None = Field(None, ge=-18, le=10)  # dark: sun below this elevation (degrees)
    sun_above: float | None = Field(None, ge=-18, le=60)  # daylight: sun above this elevation
    hours: str | None = None  # "18:00-06:00", may wrap past midnight
    outside_hours: str | None = None  # "07:00-22:00": applies outside these hours

    @model_validator(mode="after")
    def _exactly_one(self) -> During:
        given = [k for k in ("sun_below", "sun_above", "hours", "outside_hours") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of sun_below, sun_above, hours, outside_hours")
        for span in (self.hours, self.outside_hours):
            if span is not None and not _HOURS.match(span.replace(" ", "")):
                raise ValueError(f"{span!r} is not a span of hours; write it like 18:00-06:00")
        return self


class ThresholdCondition(_NeedsBound):
    """The latest value of the rule's metric compared to a bound (with `clear` for hysteresis)."""

    type: Literal["threshold"]
    during: During | None = None


class Term(Bounds):
    metric: str | None = None  # defaults to the rule's single match metric


class StateCondition(Strict):
    """A device's latest values together: all/any of several comparisons, optionally on a schedule."""

    type: Literal["state"]
    during: During | None = None
    all: list[Term] | None = None
    any: list[Term] | None = None

    @model_validator(mode="after")
    def _one_list(self) -> StateCondition:
        if (self.all is None) == (self.any is None) or not (self.all or self.any):
            raise ValueError("give a non-empty `all` or `any` list of comparisons, not both")
        return self

    @property
    def terms(self) -> list[Term]:
        return self.all if self.all is not None else (self.any or [])


class AbsentCondition(Strict):
    """No reading (of the match metric, or of anything) for `after`, default the kind's heartbeat."""

    type: Literal["absent"]
    after: Duration | None = None


class OfflineCondition(Strict):
    """The device's availability signal (LWT, availability topic) says offline."""

    type: Literal["offline"]


class CountCondition(_NeedsBound):
    """Events in a sliding window: the metric becoming a value, or online/offline changes."""

    type: Literal["count"]
    window: Duration
    becomes: Scalar | None = None
    availability_changes: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> CountCondition:
        if (self.becomes is None) == (not self.availability_changes):
            raise ValueError("count either `becomes: VALUE` of the metric or `availability_changes: true`")
        return self


class RateCondition(_NeedsBound):
    """Slope of the metric over `window` (least squares), in units per `per` (default 1 h)."""

    type: Literal["rate"]
    window: Duration
    per: Duration = timedelta(hours=1)
    min_samples: int = Field(3, ge=2)


Condition = Annotated[
    ThresholdCondition | StateCondition | AbsentCondition | OfflineCondition | CountCondition | RateCondition,
    Field(discriminator="type"),
]
CLEARABLE = (ThresholdCondition, CountCondition, RateCondition)


class Match(Strict):
    """Which devices and readings a rule looks at; every given key must match."""

    kind: Names = None
    zone: Names = None
    device: Names = None  # globs: "lamp-*"
    metric: Names = None


class Labels(BaseModel):
    """Identity and routing; extra labels (e.g. `sla: 4h`) pass through to the ticket as text."""

    model_config = ConfigDict(extra="allow", frozen=True)
    severity: Severity
    category: str = "general"

    @model_validator(mode="before")
    @classmethod
    def _extras_are_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v if k == "severity" or isinstance(v, str) else str(v) for k, v in data.items()}
        return data

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "category": self.category,
                **{k: str(v) for k, v in (self.model_extra or {}).items()}}


class Annotations(Strict):
    title: str
    description: str = ""


TEMPLATE_FIELDS = frozenset({"rule", "device", "zone", "kind", "metric", "value", "threshold", "severity",
                             "location", "for", "last_seen"})
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
    params: dict[str, Any] = Field(default_factory=dict)
    source: str = ""  # FILE:LINE where the rule is defined (set by the loader)

    @property
    def metric(self) -> str | None:
        """The single metric of the rule, when it names exactly one."""
        m = self.match.metric
        return m[0] if m and len(m) == 1 else None

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        cond = self.condition
        needs_one = isinstance(cond, ThresholdCondition | RateCondition) or (
            isinstance(cond, CountCondition) and cond.becomes is not None)
        if needs_one and self.metric is None:
            raise ValueError(f"a {cond.type} rule needs exactly one `match.metric`")
        if isinstance(cond, StateCondition) and any(t.metric is None for t in cond.terms) and not self.metric:
            raise ValueError("every state comparison needs a `metric` (or the rule a single match.metric)")
        if self.clear is not None:
            if not isinstance(cond, CLEARABLE):
                raise ValueError(f"`clear` is only for threshold, count and rate rules, not {cond.type}; "
                                 "remove it (the rule clears when its condition stops holding)")
            if not self.clear.bounded():
                raise ValueError("`clear` needs a comparison such as `above: 1.1`")
            _check_hysteresis(cond, self.clear)
        allowed = TEMPLATE_FIELDS | frozenset(self.params)
        for text in (self.annotations.title, self.annotations.description):
            if problems := template_problems(text, allowed):
                raise ValueError(problems[0])
        return self


def _check_hysteresis(cond: Bounds, clear: Bounds) -> None:
    """A clear band that overlaps the firing band would open and clear on the same value."""
    low = cond.below if cond.below is not None else cond.at_most
    high = cond.above if cond.above is not None else cond.at_least
    clear_up = clear.above if clear.above is not None else clear.at_least
    clear_down = clear.below if clear.below is not None else clear.at_most
    if low is not None and clear_up is not None and clear_up < low:
        raise ValueError(f"clear at {clear_up} is inside the firing band (below {low}); "
                         f"make it at least {low}")
    if high is not None and clear_down is not None and clear_down > high:
        raise ValueError(f"clear at {clear_down} is inside the firing band (above {high}); "
                         f"make it at most {high}")


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


def format_duration(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
