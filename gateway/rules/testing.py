"""`sitegate rules test`: unit tests for rule files, like `promtool test rules`.

A test file names the rule files under test (relative to itself), the site (time zone, sky,
heartbeats), the devices, and test cases. Each case feeds readings, availability changes, taps and
ticks at given times, and at given times expects an exact set of firing alerts and of alerts
cleared since the previous expectation. Times are ISO 8601 with an offset, or an offset like
`90s` / `1h30m` from the case's `start`. See rules/README.md for the format and rules/tests/ for
examples.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gateway.core.errors import ConfigError
from gateway.core.model import AlertEvent, Availability, DeviceInfo, Reading
from gateway.core.paths import rules_dir
from gateway.core.validation import Duration, format_duration, parse_duration
from gateway.core.yamlsource import LineMap, load_yaml, validate
from gateway.rules.compare import Scalar
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.loader import load_rules
from gateway.rules.schema import Rule


def _when(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a time needs an offset, like 2026-11-20T18:00:00+08:00")
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return parse_duration(value)
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} needs an offset, like 2026-11-20T18:00:00+08:00")
        return parsed
    return parse_duration(value)


When = Annotated[datetime | timedelta, BeforeValidator(_when)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteSpec(_Spec):
    timezone: str = "UTC"
    latitude: float = 0.0
    longitude: float = 0.0
    heartbeat: dict[str, Duration] = Field(default_factory=dict)


class DeviceSpec(_Spec):
    id: str
    kind: str = "unknown"
    zone: str = "unassigned"
    location: str | None = None
    circuit: str | None = None


class InputSpec(_Spec):
    at: When | None = None
    device: str | None = None
    metric: str | None = None
    value: Scalar | None = None
    online: bool | None = None
    tap: Literal[True] | None = None  # the device (a reader) read a tag: a sign of life
    tick: When | None = None
    every: Duration | None = None  # repeat the reading this often ...
    until: When | None = None  # ... up to and including this time

    @model_validator(mode="after")
    def _shape(self) -> InputSpec:
        if self.tick is not None:
            if any(v is not None for v in (self.at, self.device, self.metric, self.value, self.online, self.tap)):
                raise ValueError("a tick step has only `tick: TIME`")
            return self
        if self.at is None or self.device is None:
            raise ValueError("an input needs `at` and `device` (or is a `tick: TIME` step)")
        given = [self.metric is not None or self.value is not None, self.online is not None, self.tap is not None]
        if given.count(True) != 1 or (given[0] and (self.metric is None or self.value is None)):
            raise ValueError("an input has either `metric` and `value`, or `online: true|false`, or `tap: true`")
        if (self.every is None) != (self.until is None):
            raise ValueError("`every` and `until` go together")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("`every` must be longer than zero")
        return self


class AlertSpec(_Spec):
    """An expected alert; fields other than rule, device and channel are checked only when given."""

    rule: str
    device: str
    channel: int = 1  # the channel of a per_channel rule's alert (way n of a board meter)
    circuit: str | None = None  # the alert's circuit label; `null` given: it has none
    severity: str | None = None
    zone: str | None = None
    kind: str | None = None
    category: str | None = None
    title: str | None = None
    description: str | None = None
    value: Scalar | None = None
    auto_resolve: bool | None = None
    fired_at: When | None = None


class ClearedSpec(_Spec):
    rule: str
    device: str
    channel: int = 1


class ExpectSpec(_Spec):
    at: When
    firing: list[AlertSpec] | None = None  # exactly these are firing at `at` (omit: not checked)
    cleared: list[ClearedSpec] | None = None  # exactly these cleared since the previous expectation


class CaseSpec(_Spec):
    name: str
    start: When | None = None
    rules: list[str] | None = None  # only these rules' alerts are checked (default: all)
    devices: list[DeviceSpec] = Field(default_factory=list)
    inputs: list[InputSpec] = Field(default_factory=list)
    expect: list[ExpectSpec] = Field(default_factory=list)


class TestFile(_Spec):
    builtin_rules: bool = False  # load the built-in pack first, as a site does (to test its overrides)
    rule_files: list[str]
    site: SiteSpec = SiteSpec()
    devices: list[DeviceSpec] = Field(default_factory=list)
    tests: list[CaseSpec]


@dataclass(frozen=True, slots=True)
class TestFailure:
    file: Path | str
    line: int
    test: str
    message: str

    def __str__(self) -> str:
        name = f"[{self.test}] " if self.test else ""
        return f"{self.file}:{self.line}: {name}{self.message}"


@dataclass
class Summary:
    files: int = 0
    cases: int = 0
    failed_cases: int = 0


def run_rule_tests(files: Sequence[Path]) -> list[TestFailure]:
    """Run every test case in these files; an empty list means all passed."""
    return _run(files, Summary())


def _run(files: Sequence[Path], summary: Summary) -> list[TestFailure]:
    failures: list[TestFailure] = []
    for path in files:
        summary.files += 1
        try:
            data, lines = load_yaml(path)
            spec = validate(TestFile, data if data is not None else {}, lines)
            rules = load_rules([*([rules_dir()] if spec.builtin_rules else []),
                                *((path.parent / f) for f in spec.rule_files)])
        except ConfigError as exc:
            failures.extend(TestFailure(p.file, p.line, "", p.message.replace("Value error, ", ""))
                            for p in exc.problems)
            continue
        for i, case in enumerate(spec.tests):
            summary.cases += 1
            found = _run_case(spec, case, rules, lines, ("tests", i))
            if found:
                summary.failed_cases += 1
                failures.extend(found)
    return failures


class _CaseError(Exception):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _run_case(spec: TestFile, case: CaseSpec, rules: list[Rule], lines: LineMap,
              prefix: tuple[str | int, ...]) -> list[TestFailure]:
    def fail(loc: tuple[str | int, ...], message: str) -> TestFailure:
        return TestFailure(lines.file, lines.line((*prefix, *loc)), case.name, message)

    known = {r.id for r in rules}
    for j, rule_id in enumerate(case.rules or []):
        if rule_id not in known:
            return [fail(("rules", j), f"no loaded rule has the id {rule_id}; fix it or add its rule file")]
    try:
        steps = _timeline(case)
        expectations = [(_abs(e.at, case.start, ("expect", j, "at")), j, e) for j, e in enumerate(case.expect)]
    except _CaseError as exc:
        return [fail(exc.loc, exc.message)]
    for (a, j, _), (b, _, _) in itertools.pairwise(expectations):
        if b < a:
            return [fail(("expect", j + 1, "at"), "expectations must be in time order")]

    engine = RuleEngine(rules, site=SiteContext(spec.site.timezone, spec.site.latitude, spec.site.longitude,
                                                spec.site.heartbeat))
    devices = {d.id: DeviceInfo(d.id, d.kind, d.zone, location=d.location, circuit=d.circuit)
               for d in [*spec.devices, *case.devices]}
    engine.set_devices(devices)
    scope = set(case.rules) if case.rules else known
    firing: dict[Alert, AlertEvent] = {}
    cleared: set[Alert] = set()

    def take(events: list[AlertEvent]) -> None:
        for ev in events:
            key = (ev.rule, ev.device, int(ev.labels.get("channel", "1")))
            if ev.state == "firing":
                firing[key] = ev
            else:
                firing.pop(key, None)
                cleared.add(key)

    failures: list[TestFailure] = []
    pos = 0
    for at, j, exp in expectations:
        while pos < len(steps) and steps[pos][0] <= at:
            take(_apply(engine, steps[pos]))
            pos += 1
        take(engine.tick(at))
        failures.extend(fail(loc, msg) for loc, msg in _check(exp, j, case.start, firing, cleared, scope))
        cleared.clear()
    for step in steps[pos:]:
        _apply(engine, step)
    return failures


Step = tuple[datetime, str, InputSpec]
Alert = tuple[str, str, int]  # rule, device, channel


def _named(alert: Alert) -> str:
    rule, device, channel = alert
    return f"{rule} on {device}" + (f" channel {channel}" if channel != 1 else "")


def _abs(when: datetime | timedelta, start: datetime | timedelta | None, loc: tuple[str | int, ...]) -> datetime:
    if isinstance(when, datetime):
        return when
    if not isinstance(start, datetime):
        raise _CaseError(loc, "a relative time needs the case's `start` as an absolute time with offset")
    return start + when


def _timeline(case: CaseSpec) -> list[Step]:
    steps: list[Step] = []
    last: datetime | None = None
    for j, item in enumerate(case.inputs):
        when = item.tick if item.tick is not None else item.at
        assert when is not None
        t = _abs(when, case.start, ("inputs", j))
        if last is not None and t < last:
            raise _CaseError(("inputs", j), "inputs must be in time order; move this one up")
        last = t
        kind = ("tick" if item.tick is not None else "avail" if item.online is not None
                else "tap" if item.tap is not None else "reading")
        steps.append((t, kind, item))
        if item.every is not None and item.until is not None:
            until = _abs(item.until, case.start, ("inputs", j, "until"))
            t += item.every
            while t <= until:
                steps.append((t, kind, item))
                t += item.every
    steps.sort(key=lambda s: s[0])  # repeated inputs interleave with later ones (stable sort)
    return steps


def _apply(engine: RuleEngine, step: Step) -> list[AlertEvent]:
    at, kind, item = step
    if kind == "tick":
        return engine.tick(at)
    assert item.device is not None
    if kind == "avail":
        assert item.online is not None
        return engine.on_availability(Availability(item.device, item.online, at), at)
    if kind == "tap":
        return engine.on_tap(item.device, at)
    assert item.metric is not None and item.value is not None
    return engine.on_reading(Reading(item.device, item.metric, item.value, None, at), at)


def _check(exp: ExpectSpec, j: int, start: datetime | timedelta | None, firing: dict[Alert, AlertEvent],
           cleared: set[Alert], scope: set[str]) -> list[tuple[tuple[str | int, ...], str]]:
    out: list[tuple[tuple[str | int, ...], str]] = []
    here = exp.at.isoformat() if isinstance(exp.at, datetime) else f"start+{format_duration(exp.at)}"
    if exp.firing is not None:
        actual = {k for k in firing if k[0] in scope}
        wanted = {(a.rule, a.device, a.channel) for a in exp.firing}
        for alert in sorted(wanted - actual):
            idx = next(i for i, a in enumerate(exp.firing) if (a.rule, a.device, a.channel) == alert)
            out.append((("expect", j, "firing", idx), f"at {here}: expected {_named(alert)} firing, it is not"))
        for alert in sorted(actual - wanted):
            out.append((("expect", j, "firing"), f"at {here}: {_named(alert)} is firing but not expected "
                                                  f"(title: {firing[alert].title})"))
        for idx, a in enumerate(exp.firing):
            ev = firing.get((a.rule, a.device, a.channel))
            if ev is not None:
                out.extend((("expect", j, "firing", idx, name),
                            f"at {here}: {_named((a.rule, a.device, a.channel))}: {msg}")
                           for name, msg in _compare(a, ev, start))
    if exp.cleared is not None:
        actual = {k for k in cleared if k[0] in scope}
        wanted = {(c.rule, c.device, c.channel) for c in exp.cleared}
        for alert in sorted(wanted - actual):
            out.append((("expect", j, "cleared"), f"at {here}: expected {_named(alert)} to have cleared, "
                                                  "it did not"))
        for alert in sorted(actual - wanted):
            out.append((("expect", j, "cleared"), f"at {here}: {_named(alert)} cleared but that was not "
                                                  "expected"))
    return out


def _compare(a: AlertSpec, ev: AlertEvent, start: datetime | timedelta | None) -> list[tuple[str, str]]:
    out = []
    for name in ("severity", "zone", "kind", "category", "title", "description", "value", "auto_resolve"):
        want = getattr(a, name)
        got = getattr(ev, name)
        if want is not None and not _equal(want, got):
            out.append((name, f"{name} is {got!r}, expected {want!r}"))
    if "circuit" in a.model_fields_set and a.circuit != ev.labels.get("circuit"):
        out.append(("circuit", f"circuit is {ev.labels.get('circuit')!r}, expected {a.circuit!r}"))
    if a.fired_at is not None:
        want_ts = a.fired_at if isinstance(a.fired_at, datetime) else (
            start + a.fired_at if isinstance(start, datetime) else None)
        if want_ts is not None and want_ts != ev.ts:
            out.append(("fired_at", f"fired at {ev.ts.isoformat()}, expected {want_ts.isoformat()}"))
    return out


def _equal(want: Any, got: Any) -> bool:
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        return abs(want - got) <= 1e-9 * max(1.0, abs(want))
    return bool(want == got and isinstance(want, bool) == isinstance(got, bool))


def rules_test_main(files: Sequence[Path]) -> int:
    """Run rule test files and print the results; the exit code of `sitegate rules test`."""
    summary = Summary()
    failures = _run(files, summary)
    for failure in failures:
        print(f"FAIL {failure}")
    passed = summary.cases - summary.failed_cases
    print(f"{summary.cases} rule tests in {summary.files} files: {passed} passed, {summary.failed_cases} failed"
          + ("" if not failures or summary.failed_cases else " (files could not be run, see above)"))
    return 1 if failures else 0
