"""The `maintenance:` section of the site file: which assets are inspected, how often, with what checklist.

Recurrence is an RFC 5545 RRULE (dateutil parses it; no calendar is written here) or one of the
presets in `PRESETS`. Built-in schedules (`DEFAULT_SCHEDULES`) apply unless `defaults: false`; a
site schedule with the same id replaces the built-in one (`enabled: false` switches it off).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from dateutil.rrule import rrule as RRule
from dateutil.rrule import rrulestr
from pydantic import Field, field_validator, model_validator

from gateway.core.validation import Duration, Strict, problem

PRESETS: dict[str, str] = {
    "daily": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY;BYDAY=MO",
    "monthly": "FREQ=MONTHLY;BYMONTHDAY=1",
    "quarterly": "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=1",
    "yearly": "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1",
}
Every = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
# The anchor of a rule's INTERVAL when a schedule names no `start` (a Monday, the 1st of January).
ANCHOR = date(2001, 1, 1)


def parse_rrule(text: str, start: date) -> RRule:
    """The rule anchored at `start`; raises ValueError saying what dateutil refused."""
    rule = rrulestr(text.removeprefix("RRULE:"), dtstart=datetime.combine(start, time()))
    if not isinstance(rule, RRule):
        raise ValueError("give one RRULE, not a set")
    return rule


class Schedule(Strict):
    """One kind of planned work. Targets: assets of `kinds` and/or the `devices` listed, optionally only
    in `zones`; `per: zone` makes one ticket per zone of those assets, `per: site` one for the site."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str
    every: Every | None = None
    rrule: str | None = None
    start: date | None = None  # anchor of the rule's INTERVAL (default 2001-01-01)
    lead: Duration = timedelta(0)  # how long before `open_at` of the due day the ticket opens
    kinds: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    per: Literal["asset", "zone", "site"] = "asset"
    checkpoint: str | None = None  # where the work is done, when the schedule is not per asset
    place: str = ""
    team: str | None = None  # the owning team; default: the asset's owner, else the zone's team
    category: str = "inspection"
    checklist: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("rrule")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_rrule(value, ANCHOR)
            except (ValueError, TypeError) as exc:
                raise problem(f"{value!r} is not an RRULE ({exc}); write e.g. \"FREQ=MONTHLY;BYMONTHDAY=1\"") \
                    from None
        return value

    @model_validator(mode="after")
    def _one_recurrence(self) -> Schedule:
        if (self.every is None) == (self.rrule is None):
            raise problem(f"schedule {self.id!r} needs exactly one of `every` (daily, weekly, monthly, quarterly, "
                          "yearly) or `rrule` (e.g. \"FREQ=MONTHLY;BYMONTHDAY=15\")")
        if self.per != "site" and not (self.kinds or self.devices) and self.enabled:
            raise problem(f"schedule {self.id!r} covers no assets; list `kinds` or `devices`, or write "
                          "`per: site` for site-wide work (a drill)")
        return self

    def rule(self) -> RRule:
        return parse_rrule(self.rrule or PRESETS[self.every or "daily"], self.start or ANCHOR)


_EXTINGUISHER = ["pressure gauge in green zone 压力表在绿区", "seal intact 铅封完好", "hose undamaged 软管完好",
                 "within service date 在有效期内"]
DEFAULT_SCHEDULES: tuple[dict[str, Any], ...] = (
    {"id": "fire-door-daily", "name": "防火门日检 Fire door daily check", "every": "daily", "kinds": ["fire_door"],
     "checklist": ["door closes and latches 门能自动关闭并锁闭", "nothing blocks the door 门前无杂物",
                   "closer and hinges intact 闭门器铰链完好"]},
    {"id": "pump-room-daily", "name": "消防泵房日检 Pump room daily check", "every": "daily",
     "kinds": ["fire_pump", "water_pump"], "per": "zone",
     "checklist": ["pumps on automatic 水泵处于自动状态", "no leaks 无渗漏", "pressure normal 压力正常"]},
    {"id": "extinguisher-monthly", "name": "灭火器月检 Extinguisher monthly check", "every": "monthly",
     "lead": "3d", "kinds": ["extinguisher"], "checklist": _EXTINGUISHER},
    {"id": "lift-quarterly", "name": "电梯季度保养 Lift quarterly maintenance", "every": "quarterly", "lead": "7d",
     "kinds": ["lift", "elevator"],
     "checklist": ["brakes tested 制动器测试", "doors and interlocks 门锁联动", "alarm and intercom 警铃对讲"]},
    {"id": "water-quarterly", "name": "供水设施季度保养 Water supply quarterly maintenance", "every": "quarterly",
     "lead": "7d", "kinds": ["water_pump", "water_tank"],
     "checklist": ["tank clean and covered 水箱清洁加盖", "pumps switch over 主备泵切换", "valves operate 阀门启闭"]},
    {"id": "fire-system-quarterly", "name": "消防系统季度保养 Fire systems quarterly maintenance",
     "every": "quarterly", "lead": "7d", "kinds": ["hydrant", "sprinkler", "smoke_detector"], "per": "zone",
     "checklist": ["hydrants: pressure and hoses 消火栓压力与水带", "sprinklers: test valve 喷淋末端试水",
                   "detectors: test sample 探测器抽检", "panel: no faults 主机无故障"]},
    {"id": "full-inspection-yearly", "name": "年度全面检测 Yearly full inspection", "rrule": "FREQ=YEARLY;BYMONTH=3;"
     "BYMONTHDAY=1", "lead": "14d", "per": "site", "category": "inspection",
     "checklist": ["fire systems tested by a licensed firm 消防设施检测报告", "lifts certified 电梯年检",
                   "electrical safety 电气安全检测"]},
    {"id": "drill-yearly", "name": "年度消防演习 Yearly emergency drill", "rrule": "FREQ=YEARLY;BYMONTH=11;"
     "BYMONTHDAY=9", "lead": "14d", "per": "site", "category": "drill",
     "checklist": ["residents notified 通知住户", "evacuation done 疏散演练完成", "drill report filed 演练记录归档"]},
)


class MaintenanceConfig(Strict):
    """`maintenance:`; its presence switches planned work on (`maintenance: {}`: the built-in schedules)."""

    defaults: bool = True
    open_at: time = time(8, 0)  # site time of the due day (minus a schedule's lead) the ticket opens
    expiry_warning: Duration = timedelta(days=30)  # equipment expiring this soon is listed as expiring
    schedules: list[Schedule] = Field(default_factory=list)

    def effective(self) -> list[Schedule]:
        """Built-ins (unless `defaults: false`) replaced by site schedules of the same id; enabled only."""
        mine = {s.id: s for s in self.schedules}
        base = [Schedule.model_validate(d) for d in DEFAULT_SCHEDULES] if self.defaults else []
        merged = [mine.pop(s.id, s) for s in base] + list(mine.values())
        return [s for s in merged if s.enabled]
