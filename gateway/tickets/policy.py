"""The `tickets:` section of the site file: SLA, escalation, owners, inhibition, maintenance, webhooks,
emergency response levels.

Plain pydantic models, validated with FILE:LINE problems through gateway.core.yamlsource. The matching
helpers here are pure: the service asks them "is this event muted, and by what?".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from fnmatch import fnmatchcase
from itertools import pairwise
from typing import Literal, NamedTuple

import holidays
from pydantic import Field, field_validator, model_validator

from gateway.core import circuits
from gateway.core.validation import Duration, PositiveDuration, Severity, Strict

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Where a ticket came from (CONTRACT.md): a rule's condition, a guard's card, a person's request, a schedule.
Source = Literal["sensor", "patrol", "complaint", "repair", "planned"]
SOURCES: tuple[Source, ...] = ("sensor", "patrol", "complaint", "repair", "planned")


class SlaTimes(Strict):
    """How long each stage may take: respond (accept / acknowledge), arrive (someone on site) and
    resolve (handled). Respond and arrive count from registration; resolve from registration too,
    except in the facility time-limit table (`sla.categories`), which counts from acceptance (接单).

    A field left out falls through to the next level (rule -> zone -> emergency -> source ->
    category -> severity -> built-in); an explicit `null` means "no such deadline".
    """

    respond: Duration | None = None
    arrive: Duration | None = None
    resolve: Duration | None = None


class SlaPolicy(Strict):
    severities: dict[Severity, SlaTimes] = Field(default_factory=dict)
    # The facility time-limit table: category (lighting, water, fire, lift, ...) -> completion limit,
    # counted from acceptance. Merged over the built-in table (gateway/tickets/sla.py).
    categories: dict[str, SlaTimes] = Field(default_factory=dict)
    # Requests from people: complaints answered in 24 h and handled in 48 h, repairs answered in 2 h.
    sources: dict[Source, SlaTimes] = Field(default_factory=dict)
    # Emergencies (fire, water leak, people trapped; any critical ticket): on site in 1 h, handled in 2 h.
    emergency: SlaTimes | None = None
    zones: dict[str, dict[Severity, SlaTimes]] = Field(default_factory=dict)
    # Keys are rule ids or glob patterns (`lighting.*`); an exact id wins over a pattern.
    rules: dict[str, SlaTimes] = Field(default_factory=dict)


class EscalationPolicy(Strict):
    """Level n is reached when `multiples[n-1]` times the SLA window has passed since the ticket opened.

    With the default [1, 2, 3] a critical ticket (respond within 1 h) escalates at 1 h, 2 h and 3 h.
    """

    multiples: list[float] = Field(default_factory=lambda: [1.0, 2.0, 3.0], min_length=1)
    # Who each level goes to, written into the history note (e.g. "主管 supervisor").
    notify: list[str] = Field(default_factory=list)

    @field_validator("multiples")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(m <= 0 for m in v) or any(b <= a for a, b in pairwise(v)):
            raise ValueError("escalation multiples must be positive and increasing, like [1, 2, 3]")
        return v


class OwnerPolicy(Strict):
    zones: dict[str, str] = Field(default_factory=dict)  # zone -> team
    default: str | None = None

    def owner(self, zone: str, labels: dict[str, str]) -> str | None:
        # An explicit owner label (from the inventory's owner column) beats the zone's team.
        return labels.get("owner") or self.zones.get(zone) or self.default


class InhibitRule(Strict):
    """A root cause and the symptoms it explains: while a ticket of the source is active and its
    condition holds, alerts of the targets with equal fields open no ticket, and open target tickets
    are folded into it (whichever was seen first).

    The source is a rule id glob (`source_rule`) or a fault (`source_fault`, the `fault` label); the
    targets are rule id globs and/or faults, so one entry can name every rule of a fault
    (`target_faults: [no_contact]` is health.offline and health.silent). `equal` names fields that
    must match: zone, device, kind, category or any label (e.g. circuit). An empty list mutes the
    targets site-wide.
    """

    source_rule: str | None = None
    source_fault: str | None = None
    target_rules: list[str] = Field(default_factory=list)
    target_faults: list[str] = Field(default_factory=list)
    equal: list[str]
    # Open target tickets opened at most this long before the root cause's ticket are its symptoms
    # seen first (lamps drop off the network minutes before their board's meter reports) and are
    # folded into it; an older one is a fault of its own (a lamp that died hours before the outage).
    fold_within: PositiveDuration = timedelta(minutes=15)

    @model_validator(mode="after")
    def _named(self) -> InhibitRule:
        if (self.source_rule is None) == (self.source_fault is None):
            raise ValueError("give exactly one of source_rule or source_fault: the root cause")
        if not (self.target_rules or self.target_faults):
            raise ValueError("give target_rules or target_faults (or both): the symptoms it explains")
        return self

    def is_source(self, rule: str, labels: Mapping[str, str]) -> bool:
        """Whether an alert or a ticket of `rule` with these labels is this entry's root cause."""
        if self.source_fault is not None:
            return labels.get("fault") == self.source_fault
        return self.source_rule is not None and fnmatchcase(rule, self.source_rule)

    def targets(self, rule: str, labels: Mapping[str, str] | None = None) -> bool:
        """Whether an alert or a ticket of `rule` with these labels is a symptom this entry mutes."""
        fault = (labels or {}).get("fault")
        return (any(fnmatchcase(rule, pattern) for pattern in self.target_rules)
                or (fault is not None and fault in self.target_faults))


class MaintenanceWindow(Strict):
    """Planned work or a drill: matching events between start and end open no ticket."""

    name: str = ""
    kind: Literal["maintenance", "drill"] = "maintenance"
    devices: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)  # rule id globs; empty means every rule
    start: datetime  # without an offset, the site's time zone
    end: datetime
    reason: str

    @model_validator(mode="after")
    def _sane(self) -> MaintenanceWindow:
        if not (self.devices or self.zones):
            raise ValueError("a maintenance window needs `devices` or `zones`; list what it covers")
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("give start and end both with or both without a UTC offset")
        if self.end <= self.start:
            raise ValueError("the window's end must be after its start")
        return self

    def label(self) -> str:
        return self.name or f"{self.kind} {self.start.isoformat()}"

    def covers(self, *, rule: str, device: str, zone: str, at: datetime, tz: tzinfo) -> bool:
        start, end = _aware(self.start, tz), _aware(self.end, tz)
        if not start <= at < end:
            return False
        if self.rules and not any(fnmatchcase(rule, p) for p in self.rules):
            return False
        return device in self.devices or zone in self.zones


def _aware(dt: datetime, tz: tzinfo) -> datetime:
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt


class WorkCalendar(Strict):
    """Which days are working days: the country's public holidays and make-up working days (调休)
    from the `holidays` package, then the site's own `holidays` and `extra_workdays` over them.

    With `country: null` only `workdays`, `holidays` and `extra_workdays` count. For a year the
    package has no official notice for yet, it computes the statutory holidays but cannot know that
    year's 调休 days: list them in `extra_workdays` once the State Council publishes them.
    """

    country: str | None = "CN"
    workdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)
    end_of_day: time = time(18, 0)

    @field_validator("country")
    @classmethod
    def _known_country(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                holidays.country_holidays(v)
            except NotImplementedError:
                raise ValueError(f"'{v}' is not a country code the holidays package knows; use CN, "
                                 "or null for the site's own lists only") from None
        return v


_REVISITED: tuple[Source, ...] = ("sensor", "patrol", "complaint", "repair")


class RevisitPolicy(Strict):
    # The standards ask for a follow-up visit by customer service within one working day of a repair.
    working_days: int = Field(default=1, ge=0)
    # Tickets of these sources need a successful revisit before they close, once a person resolved
    # them (a fault that cleared by itself has no repair to ask about).
    sources: list[Source] = Field(default_factory=lambda: list(_REVISITED))
    # Who hears of a failed revisit (written in the history and sent with the change).
    notify: str = "维修主管 maintenance lead"


class WebhookConfig(Strict):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    token_env: str | None = None  # sent as `Authorization: Bearer <value of this env var>`
    timeout: PositiveDuration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1)
    backoff: Duration = timedelta(seconds=1)  # first retry delay; doubles up to backoff_max
    backoff_max: Duration = timedelta(seconds=60)
    # Which changes to send (history actions, or "occurrence"); empty means every change except
    # bare occurrence counts, which would flood a chat channel.
    actions: list[str] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"webhook url '{v}' must start with http:// or https://")
        return v

    def wants(self, action: str) -> bool:
        return action in self.actions if self.actions else action != "occurrence"


# -- emergency response: 一级/二级/三级 by what happened (issue 12 §5) -----------------------------

EmergencyLevel = Literal[1, 2, 3]
LEVEL_NAMES: dict[int, str] = {1: "一级", 2: "二级", 3: "三级"}


class IncidentClass(Strict):
    """What happened, and the response level it calls for (1 the most serious).

    A ticket whose `fault` label is one of `faults` is in this class when, among the active tickets
    of its zone with one of `faults`, there are at least `sources` distinct sources in alarm: sensors
    (a device whose condition holds) and people's reports (a guard's event card), of which at least
    `detectors` sensors and `reports` reports, whose alarms began within `within` of each other (if
    set). `with_faults` also asks for another active ticket in the zone with one of those faults (a
    pressure drop with a leak); `labels`, that a counted ticket carries these labels.
    """

    name: str
    level: EmergencyLevel
    faults: list[str] = Field(min_length=1)
    sources: int = Field(default=1, ge=1)
    detectors: int = Field(default=0, ge=0)
    reports: int = Field(default=0, ge=0)
    within: PositiveDuration | None = None
    with_faults: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> IncidentClass:
        if self.detectors + self.reports > self.sources:
            # Counting 2 detectors among 1 source can never hold: say so instead of never matching.
            raise ValueError(f"sources ({self.sources}) must be at least detectors + reports "
                             f"({self.detectors} + {self.reports})")
        return self


FIRE_FAULTS = ["fire_confirmed", "fire_alarm_confirmed"]
LEAK_FAULTS = ["leak", "water_leak", "flood"]


def default_incident_classes() -> list[IncidentClass]:
    """The built-in classes, after the property manuals' response levels; a site's `classes`
    replace them as a whole."""
    return [
        IncidentClass(name="火警确认 fire alarm confirmed", level=1, faults=FIRE_FAULTS),
        IncidentClass(name="多个烟感报警 3+ smoke detectors in alarm", level=1, faults=["smoke"],
                      sources=3, detectors=3),
        IncidentClass(name="巡逻报火且探测器报警 a guard's fire report and a detector", level=1,
                      faults=["fire", "smoke"], sources=2, detectors=1, reports=1),
        IncidentClass(name="两个烟感相继报警 2 smoke detectors within 10 min", level=2, faults=["smoke"],
                      sources=2, detectors=2, within=timedelta(minutes=10)),
        IncidentClass(name="大量漏水 major leak (flow or pressure drop)", level=2, faults=LEAK_FAULTS,
                      with_faults=["pressure_drop", "flow_surge"]),
        IncidentClass(name="多处漏水 2+ leak sensors", level=2, faults=LEAK_FAULTS, sources=2, detectors=2),
        IncidentClass(name="单个探测器报警 one detector or report", level=3, faults=["smoke", "fire"]),
        IncidentClass(name="少量漏水 minor leak", level=3, faults=LEAK_FAULTS),
    ]


class SmtpRelay(Strict):
    """The mail relay e-mails go through; the password is read from `password_env` when sending."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(alias="from", min_length=3)
    timeout: PositiveDuration = timedelta(seconds=15)

    @model_validator(mode="after")
    def _login(self) -> SmtpRelay:
        if self.password_env and not self.username:
            raise ValueError("password_env is set but username is not: give the relay's user name")
        return self


class LevelNotifications(Strict):
    """Who hears of a ticket reaching this level: webhooks, MQTT topics (`{site}` and `{level}` are
    filled in) and e-mail recipients (through `smtp`)."""

    name: str = ""
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    mqtt: list[str] = Field(default_factory=list)
    email: list[str] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for address in v:
            if "@" not in address or address.strip() != address:
                raise ValueError(f"'{address}' is not an e-mail address like ops@example.com")
        return v

    @field_validator("mqtt")
    @classmethod
    def _topics(cls, v: list[str]) -> list[str]:
        for topic in v:
            if not topic or "#" in topic or "+" in topic:
                raise ValueError(f"MQTT topic '{topic}' must be a plain topic (no wildcards), like "
                                 "sitegate/{site}/emergency/{level}")
        return v


class DeliveryRetry(Strict):
    """Retries for MQTT and e-mail notices (webhooks keep their own `max_attempts` and `backoff`)."""

    max_attempts: int = Field(default=5, ge=1)
    backoff: Duration = timedelta(seconds=5)  # first retry delay; doubles up to backoff_max
    backoff_max: Duration = timedelta(minutes=5)


class EmergencyResponse(Strict):
    """`tickets.emergency_response`: the incident classes that set a ticket's emergency level, and
    each level's notification list. Elapsed-time escalation (`escalation`) runs alongside."""

    enabled: bool = True
    classes: list[IncidentClass] = Field(default_factory=default_incident_classes)
    levels: dict[EmergencyLevel, LevelNotifications] = Field(default_factory=dict)
    smtp: SmtpRelay | None = None
    retry: DeliveryRetry = Field(default_factory=DeliveryRetry)
    queue: int = Field(default=1000, ge=1)  # notices waiting for delivery before dropping

    @model_validator(mode="after")
    def _relay_for_email(self) -> EmergencyResponse:
        wanting = [level for level, spec in sorted(self.levels.items()) if spec.email]
        if wanting and self.smtp is None:
            raise ValueError(f"level {wanting[0]} sends e-mail but there is no `smtp:` relay; add "
                             "smtp: {host, port, starttls, username, password_env, from}")
        return self

    def watched_faults(self) -> frozenset[str]:
        """Faults whose tickets can change a zone's class (counted, or needed alongside)."""
        return frozenset(f for c in self.classes for f in (*c.faults, *c.with_faults))

    def level_name(self, level: int) -> str:
        spec = self.levels.get(level)  # type: ignore[call-overload]
        return (spec.name if spec is not None and spec.name else None) or LEVEL_NAMES.get(level, f"level {level}")


class TicketPolicy(Strict):
    """Everything under `tickets:` in the site file. Every part has a working default."""

    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    owners: OwnerPolicy = Field(default_factory=OwnerPolicy)
    inhibit: list[InhibitRule] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    calendar: WorkCalendar = Field(default_factory=WorkCalendar)
    revisit: RevisitPolicy = Field(default_factory=RevisitPolicy)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    webhook_queue: int = Field(default=1000, ge=1)  # changes waiting for delivery before dropping
    emergency_response: EmergencyResponse = Field(default_factory=EmergencyResponse)

    def is_inhibit_source(self, rule: str, labels: Mapping[str, str]) -> bool:
        return any(r.is_source(rule, labels) for r in self.inhibit)

    def window_for(self, *, rule: str, device: str, zone: str, at: datetime,
                   tz: tzinfo) -> MaintenanceWindow | None:
        for window in self.maintenance:
            if window.covers(rule=rule, device=device, zone=zone, at=at, tz=tz):
                return window
        return None


class Facts(NamedTuple):
    """What inhibition looks at on a ticket or an alert."""

    rule: str
    device: str
    zone: str
    kind: str
    category: str
    labels: Mapping[str, str]

    def field(self, name: str) -> str | None:
        """The value an inhibit rule's `equal` entry refers to."""
        fixed = {"rule": self.rule, "device": self.device, "device_id": self.device, "zone": self.zone,
                 "kind": self.kind, "category": self.category}
        return fixed[name] if name in fixed else self.labels.get(name)


def explains(rule: InhibitRule, source: Facts, target: Facts) -> bool:
    """Whether `rule` says the root cause `source` (a ticket) explains `target` (an alert or a ticket)."""
    return (rule.is_source(source.rule, source.labels) and rule.targets(target.rule, target.labels)
            and all(_equal(name, source, target) for name in rule.equal))


def _equal(name: str, source: Facts, target: Facts) -> bool:
    mine, theirs = source.field(name), target.field(name)
    # A label missing on either side never matches: an outage with no circuit mutes nothing by circuit.
    if mine is None or theirs is None:
        return False
    if name == "circuit":
        # Circuits nest: board AL5 feeds ways AL5-WL1, AL5-WL2 (the asset register's naming), so an
        # outage of the board explains the faults of every lamp on its ways.
        return circuits.within(theirs, mine)
    return mine == theirs
