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
from gateway.rules.compare import Bounds, unit_of
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
    """A rule as the device page lists it. `heartbeat`: the device kind's, for rules about silence."""
    wait = rule.for_
    return {
        "id": rule.id,
        "severity": rule.labels.severity,
        "category": rule.labels.category,
        "title": rule.annotations.title,
        "condition": condition_text(rule, heartbeat),
        "during": during_text(rule.condition.applies_during()),
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


def _bounds(metric: str, bounds: Bounds) -> str:
    return f"{metric} {bounds.describe(unit_of(metric))}"


def _per(unit: str | None, per: timedelta) -> str | None:
    return f"{unit or ''}/{'h' if per == timedelta(hours=1) else format_duration(per)}".lstrip()


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
