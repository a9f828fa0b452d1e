"""Which loaded rules watch a device, and what each one's threshold is, in the words of its rule file.

The device page shows these beside the readings ("pressure_mpa < 1 MPa → major"), so an engineer
sees what the gateway is waiting for without opening YAML. The texts are built from the rule as
loaded (params and the site's overrides already substituted), never copied from the built-in pack.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from gateway.core.validation import format_duration
from gateway.devices.vocabulary import split_channel
from gateway.rules.compare import SIGNS, Bounds, unit_of
from gateway.rules.conditions.window import During
from gateway.rules.schema import Rule


def applies(rule: Rule, *, device: str, kind: str, zone: str, metrics: Iterable[str]) -> bool:
    """Whether `rule` watches this device: its kind, zone and device globs let it in and, for a rule
    about named metrics that does not name the device's kind, the device reports one of them (a
    `fire.smoke` rule matches any device, but only one with a smoke sensor is watched by it)."""
    if not rule.watches(device, kind, zone):
        return False
    wanted = rule.match.metric
    if not wanted or rule.match.kind:
        return True
    reported = {split_channel(m)[0] for m in metrics}
    return bool(reported & set(wanted))


def describe(rule: Rule, heartbeat: timedelta | None = None) -> dict[str, Any]:
    """A rule as the device page lists it. `heartbeat`: the device kind's, for rules about silence.

    `condition` and `during_text` are the English sentences; `type`, `match` (`all` | `any`),
    `terms` (metric, sign, value, unit), `window_s`, `after_s` and `during` are the same facts for a
    page that words them in its own language."""
    wait = rule.for_
    cond: Any = rule.condition
    during = cond.applies_during()
    after = cond.after or heartbeat if cond.type == "absent" else None
    return {
        "id": rule.id,
        "severity": rule.labels.severity,
        "category": rule.labels.category,
        "title": rule.annotations.title,
        "condition": condition_text(rule, heartbeat),
        "type": cond.type,
        "match": "all" if cond.type == "state" and cond.all is not None else "any",
        "terms": _structured(rule),
        "window_s": cond.window.total_seconds() if cond.type in ("rate", "count") else None,
        "becomes": cond.becomes if cond.type == "count" else None,
        "after_s": after.total_seconds() if after else None,
        "during": during.model_dump(exclude_none=True) if during else None,
        "during_text": during_text(during),
        "clear": _bounds(rule.metric or "value", rule.clear) if rule.clear else None,
        "for": format_duration(wait) if wait > timedelta(0) else None,
        "for_s": wait.total_seconds(),
        "per_channel": rule.per_channel,
        "source": rule.source,
    }


def condition_text(rule: Rule, heartbeat: timedelta | None = None) -> str:
    """"pressure_mpa < 1 MPa", "current_a < 0.02 A or power_on = false", "no message for 15m"."""
    cond: Any = rule.condition
    metric = rule.metric or "value"
    kind = cond.type
    if kind == "threshold":
        return _bounds(metric, cond)
    if kind == "state":
        joiner = " and " if cond.all is not None else " or "
        return joiner.join(_bounds(term.metric or metric, term) for term in cond.terms)
    if kind == "rate":
        return f"{metric} changes {cond.describe(_per(unit_of(metric), cond.per))} over {format_duration(cond.window)}"
    if kind == "count":
        what = "online/offline changes" if cond.availability_changes else f"{metric} becomes {_show(cond.becomes)}"
        return f"{what} {cond.describe()} times within {format_duration(cond.window)}"
    if kind == "absent":
        after = cond.after or heartbeat
        subject = f"no {metric} reading" if rule.match.metric else "no message"
        return f"{subject} for {format_duration(after)}" if after else f"{subject} within the kind's heartbeat"
    if kind == "offline":
        return "reports offline"
    return str(kind)  # a kind added later still says what it is


def during_text(during: During | None) -> str | None:
    """"sun below -4°", "outside 07:00-22:00"."""
    if during is None:
        return None
    if during.sun_below is not None:
        return f"sun below {during.sun_below:g}°"
    if during.sun_above is not None:
        return f"sun above {during.sun_above:g}°"
    if during.hours is not None:
        return f"during {during.hours}"
    return f"outside {during.outside_hours}"


def _structured(rule: Rule) -> list[dict[str, Any]]:
    """The comparisons of a threshold, state, rate or count condition, one per bound."""
    cond: Any = rule.condition
    metric = rule.metric or "value"
    if cond.type == "state":
        pairs = [(term.metric or metric, term) for term in cond.terms]
    elif cond.type in ("threshold", "rate"):
        pairs = [(metric, cond)]
    elif cond.type == "count":
        pairs = [("" if cond.availability_changes else metric, cond)]  # a number of events, no metric
    else:
        return []
    out = []
    for name, bounds in pairs:
        for key, sign in SIGNS:
            if (value := getattr(bounds, key)) is not None:
                out.append({"metric": name, "sign": sign, "value": value,
                            "unit": unit_of(name) if key not in ("equals", "not_equals") else None})
    return out


def _bounds(metric: str, bounds: Bounds) -> str:
    return f"{metric} {bounds.describe(unit_of(metric))}"


def _per(unit: str | None, per: timedelta) -> str | None:
    return f"{unit or ''}/{'h' if per == timedelta(hours=1) else format_duration(per)}".lstrip()


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
