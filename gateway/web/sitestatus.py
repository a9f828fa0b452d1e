"""The site's status at a glance: red, amber or green, with the reasons in both languages, and the
tickets that need a person now, most urgent first. Pure: plain ticket, device and round dicts (the
API's shapes) and `now` in, one dict out. The rules are written down in docs/dashboard.md.

red    a critical ticket still open (overdue or not), smoke seen by a detector, a major ticket overdue
amber  any other overdue ticket, a major ticket open, fire equipment faulty, devices faulty (a dark
       lamp), devices offline, a patrol round with missed checkpoints or ended incomplete
green  none of these (minor and warning tickets within their deadlines do not change the colour)

The gateway's own health (broker, storage, time series) is reported beside it, never folded in: a
site on fire with a healthy gateway is red, a quiet site whose broker is down is green with a
gateway problem shown apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.core.clock import aware_or_none

LEVELS = ("green", "amber", "red")  # worst last
ACTIVE = ("open", "acknowledged")
SEVERITY_RANK = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
FIRE_KINDS = frozenset({"extinguisher", "hydrant", "sprinkler", "smoke_detector", "fire_door"})
# A round counts as in trouble for this long after it was scheduled: the night it belongs to.
ROUND_WINDOW = timedelta(hours=12)
NAMES_SHOWN = 3  # places named in one reason; the rest are counted
NEEDS_ACTION_MAX = 10
# What a needs-action item carries (the ticket's own fields; the whole ticket is at /api/tickets/{id}).
SUMMARY_FIELDS = ("id", "title", "rule", "severity", "status", "source", "zone", "device_id", "opened_at", "due_at",
                  "assignee", "team")

# Device kinds as a reason names them (the dashboard's own labels live in i18n.js).
KIND_NAMES = {
    "lamp": ("lamp", "路灯"), "lux_sensor": ("lux sensor", "照度传感器"), "power_meter": ("power meter", "电表"),
    "extinguisher": ("extinguisher", "灭火器"), "hydrant": ("hydrant", "消火栓"), "sprinkler": ("sprinkler", "喷淋"),
    "smoke_detector": ("smoke detector", "烟感"), "fire_door": ("fire door", "防火门"),
    "checkpoint_reader": ("checkpoint reader", "巡更点读卡器"), "handheld_reader": ("handheld reader", "巡更手持机"),
}


@dataclass(frozen=True)
class Places:
    """Where things are: device id -> location (the inventory), checkpoint id -> name (patrol file)."""

    devices: Mapping[str, str]
    checkpoints: Mapping[str, str]

    def of_ticket(self, t: Mapping[str, Any]) -> str:
        device = str(t.get("device_id") or "")
        found = (self.devices.get(device) or str(t.get("place") or "") or self.checkpoints.get(device)
                 or self.checkpoints.get(str(t.get("labels", {}).get("checkpoint", ""))))
        return found or device or str(t.get("zone") or "")

    def of_device(self, d: Mapping[str, Any]) -> str:
        return self.devices.get(str(d["id"])) or str(d.get("location") or "") or str(d["id"])


def duration_text(delta: timedelta, lang: str) -> str:
    """"1 h 26 min" / "1 小时 26 分"; "3 d 4 h" past a day; minutes under an hour."""
    minutes = max(0, int(delta.total_seconds() // 60))
    d, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    zh = lang == "zh"
    if d:
        return f"{d} 天 {h} 小时" if zh else f"{d} d {h} h"
    if h:
        return f"{h} 小时 {m} 分" if zh else f"{h} h {m} min"
    return f"{m} 分" if zh else f"{m} min"


_parse = aware_or_none  # ISO with an offset, else None


def overdue_by(t: Mapping[str, Any], now: datetime) -> timedelta | None:
    """How long past its earliest open deadline the ticket is (None when it is not overdue)."""
    due = _parse(t.get("due_at"))
    if due is None or due > now:
        return None
    return now - due


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:NAMES_SHOWN])
    return shown + (f" … +{len(items) - NAMES_SHOWN}" if len(items) > NAMES_SHOWN else "")


def _what(t: Mapping[str, Any]) -> str:
    """A ticket's title without the device id the place already says ("Smoke alarm: smoke-1" -> "Smoke alarm")."""
    title = str(t.get("title") or t.get("rule") or t.get("id"))
    device = str(t.get("device_id") or "")
    if device and title.endswith(f": {device}"):
        title = title[: -len(device) - 2]
    return title


def _reason(code: str, level: str, en: str, zh: str, *, tickets: Iterable[str] = (),
            devices: Iterable[str] = (), **params: Any) -> dict[str, Any]:
    return {"code": code, "level": level, "text_en": en, "text_zh": zh, "tickets": list(tickets),
            "devices": list(devices), "params": params}


def _ticket_reasons(active: Sequence[Mapping[str, Any]], places: Places, now: datetime) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Each reason names the ticket worst off first: the one longest overdue, else the oldest.
    def worst_first(ts: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return sorted(ts, key=lambda t: (-(overdue_by(t, now) or timedelta(0)).total_seconds(),
                                         str(t.get("opened_at") or "")))

    def group(severities: tuple[str, ...], late: bool) -> list[Mapping[str, Any]]:
        return worst_first([t for t in active if t.get("severity") in severities
                            and (overdue_by(t, now) is not None) == late])

    def about(ts: Sequence[Mapping[str, Any]]) -> str:
        return _names([f"{_what(t)} {places.of_ticket(t)}".strip() for t in ts])

    if crit := group(("critical",), True):
        late = overdue_by(crit[0], now) or timedelta(0)
        out.append(_reason("critical_overdue", "red",
                           f"{len(crit)} critical overdue {duration_text(late, 'en')}: {about(crit)}",
                           f"{len(crit)} 个紧急工单超时 {duration_text(late, 'zh')}：{about(crit)}",
                           tickets=[t["id"] for t in crit], count=len(crit), overdue_s=int(late.total_seconds())))
    if crit := group(("critical",), False):
        out.append(_reason("critical_open", "red", f"{len(crit)} critical open: {about(crit)}",
                           f"{len(crit)} 个紧急工单待处理：{about(crit)}",
                           tickets=[t["id"] for t in crit], count=len(crit)))
    if major := group(("major",), True):
        late = overdue_by(major[0], now) or timedelta(0)
        out.append(_reason("major_overdue", "red",
                           f"{len(major)} major overdue {duration_text(late, 'en')}: {about(major)}",
                           f"{len(major)} 个重要工单超时 {duration_text(late, 'zh')}：{about(major)}",
                           tickets=[t["id"] for t in major], count=len(major),
                           overdue_s=int(late.total_seconds())))
    if other := group(("minor", "warning"), True):
        late = overdue_by(other[0], now) or timedelta(0)
        out.append(_reason("overdue", "amber",
                           f"{len(other)} overdue {duration_text(late, 'en')}: {about(other)}",
                           f"{len(other)} 个工单超时 {duration_text(late, 'zh')}：{about(other)}",
                           tickets=[t["id"] for t in other], count=len(other), overdue_s=int(late.total_seconds())))
    if major := group(("major",), False):
        out.append(_reason("major_open", "amber", f"{len(major)} major open: {about(major)}",
                           f"{len(major)} 个重要工单待处理：{about(major)}",
                           tickets=[t["id"] for t in major], count=len(major)))
    return out


def _kinds(devices: Sequence[Mapping[str, Any]], lang: str) -> str:
    counts: dict[str, int] = {}
    for d in devices:
        kind = str(d.get("kind") or "unknown")
        counts[kind] = counts.get(kind, 0) + 1
    i = 1 if lang == "zh" else 0
    return ", ".join(f"{KIND_NAMES.get(k, (k, k))[i]} ×{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _device_reasons(devices: Sequence[Mapping[str, Any]], places: Places) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def listed(ds: Sequence[Mapping[str, Any]]) -> str:
        return _names([places.of_device(d) for d in ds])

    smoke = [d for d in devices if (d.get("metrics") or {}).get("smoke") is True]
    if smoke:
        out.append(_reason("fire_alarm", "red", f"smoke detected at {len(smoke)}: {listed(smoke)}",
                           f"{len(smoke)} 处烟感报警：{listed(smoke)}", devices=[d["id"] for d in smoke],
                           count=len(smoke)))
    smoking = {d["id"] for d in smoke}
    faulty = [d for d in devices if d.get("health_band") == "faulty" and d["id"] not in smoking]
    fire = [d for d in faulty if d.get("kind") in FIRE_KINDS]
    if fire:
        out.append(_reason("fire_equipment_faulty", "amber",
                           f"{len(fire)} fire equipment faulty ({_kinds(fire, 'en')}): {listed(fire)}",
                           f"{len(fire)} 件消防设备异常（{_kinds(fire, 'zh')}）：{listed(fire)}",
                           devices=[d["id"] for d in fire], count=len(fire)))
    other = [d for d in faulty if d.get("kind") not in FIRE_KINDS]
    if other:
        out.append(_reason("devices_faulty", "amber",
                           f"{_count(len(other), 'device')} faulty ({_kinds(other, 'en')}): {listed(other)}",
                           f"{len(other)} 台设备故障（{_kinds(other, 'zh')}）：{listed(other)}",
                           devices=[d["id"] for d in other], count=len(other)))
    offline = [d for d in devices if d.get("online") is False]
    if offline:
        out.append(_reason("devices_offline", "amber",
                           f"{_count(len(offline), 'device')} offline ({_kinds(offline, 'en')}): {listed(offline)}",
                           f"{len(offline)} 台设备离线（{_kinds(offline, 'zh')}）：{listed(offline)}",
                           devices=[d["id"] for d in offline], count=len(offline)))
    return out


def _count(n: int, noun: str) -> str:
    """"1 device", "2 devices": the English reasons are read aloud on a night shift, so say them right."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _round_reasons(rounds: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    trouble = []
    for r in rounds:
        start = _parse(r.get("scheduled_start"))
        if start is None or not (now - ROUND_WINDOW <= start <= now):
            continue
        if r.get("missed") or r.get("status") == "incomplete":
            trouble.append(r)
    if not trouble:
        return []
    missed = sum(len(r.get("missed") or []) for r in trouble)
    names = _names([f"{r.get('route_name') or r.get('route')} {str(r.get('scheduled_start'))[11:16]}" for r in trouble])
    return [_reason("rounds_trouble", "amber",
                    f"{_count(len(trouble), 'patrol round')} in trouble, "
                    f"{_count(missed, 'checkpoint')} missed: {names}",
                    f"{len(trouble)} 个巡更班次异常，漏检 {missed} 个巡更点：{names}",
                    count=len(trouble), missed=missed, rounds=[r.get("round_id") for r in trouble])]


def urgency_key(t: Mapping[str, Any], now: datetime) -> tuple[bool, int, datetime]:
    """Overdue first, then the more severe, then the oldest."""
    opened = _parse(t.get("opened_at")) or now
    return (overdue_by(t, now) is None, SEVERITY_RANK.get(str(t.get("severity")), 9), opened)


def needs_action(active: Sequence[Mapping[str, Any]], places: Places, now: datetime,
                 limit: int = NEEDS_ACTION_MAX) -> list[dict[str, Any]]:
    """The active tickets, most urgent first, each with its place and how long it is overdue."""
    ordered = sorted((t for t in active if needs_action_now(t, now)), key=lambda t: urgency_key(t, now))
    out = []
    for t in ordered[:limit]:
        late = overdue_by(t, now)
        out.append({**{k: t.get(k) for k in SUMMARY_FIELDS}, "place": places.of_ticket(t),
                    "overdue_s": int(late.total_seconds()) if late is not None else None})
    return out


def needs_action_now(t: Mapping[str, Any], now: datetime) -> bool:
    """Planned work (a daily fire-door check) waits for its day's round unless it is overdue."""
    return t.get("source") != "planned" or overdue_by(t, now) is not None


def site_status(*, tickets: Sequence[Mapping[str, Any]], devices: Sequence[Mapping[str, Any]],
                rounds: Sequence[Mapping[str, Any]], places: Places, now: datetime) -> dict[str, Any]:
    """`{"level", "reasons", "needs_action", "needs_action_total", "counts"}` for the site at `now`."""
    active = [t for t in tickets if t.get("status") in ACTIVE]
    reasons = [*_ticket_reasons(active, places, now), *_device_reasons(devices, places), *_round_reasons(rounds, now)]
    level = max((r["level"] for r in reasons), key=LEVELS.index, default="green")
    reasons.sort(key=lambda r: -LEVELS.index(r["level"]))  # red before amber, in rule order within
    return {
        "level": level,
        "reasons": reasons,
        "needs_action": needs_action(active, places, now),
        "needs_action_total": sum(needs_action_now(t, now) for t in active),
        "counts": {"active": len(active), "overdue": sum(overdue_by(t, now) is not None for t in active),
                   "devices": len(devices), "offline": sum(d.get("online") is False for d in devices)},
        "now": now.isoformat(),
    }
