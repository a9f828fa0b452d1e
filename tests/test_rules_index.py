"""Threshold rules found by an index of their bounds (gateway/rules/index.py) behave as if each were
tested on every reading: checked against Bounds.test itself and against a per-rule reference model of
threshold + hysteresis + `for`, written here from the rule language's definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.model import DeviceInfo, Reading, Value
from gateway.rules.compare import Bounds
from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.index import ThresholdIndex
from gateway.rules.schema import Rule

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
BOUND_KEYS = ("above", "at_least", "below", "at_most")
numbers = st.sampled_from([-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0]) | st.floats(-5, 5, allow_nan=False)
values: st.SearchStrategy[Value] = numbers | st.integers(-3, 3) | st.booleans() | st.sampled_from(["on", "off"])


@st.composite
def bounds(draw: st.DrawFn) -> Bounds:
    """Mostly one numeric bound (indexed), sometimes a range or an equality (tested one by one)."""
    shape = draw(st.sampled_from(["one", "one", "one", "range", "equals"]))
    if shape == "one":
        return Bounds.model_validate({draw(st.sampled_from(BOUND_KEYS)): draw(numbers)})
    if shape == "range":
        low, high = sorted((draw(numbers), draw(numbers)))
        return Bounds(at_least=low, below=high)
    return Bounds(equals=draw(st.sampled_from([1.0, True, "on"])))


@settings(max_examples=300, deadline=None)
@given(st.lists(bounds(), min_size=1, max_size=40), values)
def test_index_finds_exactly_the_bounds_a_value_satisfies(all_bounds: list[Bounds], value: Value) -> None:
    index = ThresholdIndex((n, b) for n, b in enumerate(all_bounds))
    expected = {n for n, b in enumerate(all_bounds) if b.test(value) is True}
    found = index.holding(value)
    assert sorted(found) == sorted(expected)
    assert len(found) == len(set(found))


def threshold_rule(n: int, cond: dict[str, float], clear: dict[str, float] | None, for_s: int) -> Rule:
    data: dict[str, Any] = {
        "id": f"t{n:03d}", "match": {"metric": "pressure_mpa"}, "condition": {"type": "threshold", **cond},
        "for": f"{for_s}s", "labels": {"severity": "minor", "category": "fire"},
        "annotations": {"title": "{device} {value}"}}
    if clear is not None:
        data["clear"] = clear
    return Rule.model_validate(data)


@dataclass
class Reference:
    """One rule on one device, as the rule language defines it (docs: rules/README.md)."""

    cond: Bounds
    clear: Bounds | None
    for_: timedelta
    active: bool = False
    since: datetime | None = None
    firing: bool = False

    def due(self, now: datetime) -> datetime | None:
        if self.active and not self.firing and self.since is not None and self.since + self.for_ <= now:
            return self.since + self.for_
        return None

    def read(self, v: Value, now: datetime) -> list[tuple[str, datetime]]:
        out = []
        was = self.active
        test = self.clear if (self.active and self.clear is not None) else self.cond
        result = test.test(v)
        if result is not None:
            self.active = (not result) if test is self.clear else result
        if self.active and not was:
            self.since = now
        if self.active and not self.firing and self.since is not None and now >= self.since + self.for_:
            self.firing = True
            out.append(("firing", self.since + self.for_))
        if not self.active and was:
            if self.firing:
                out.append(("cleared", now))
            self.firing, self.since = False, None
        return out


@st.composite
def rule_set(draw: st.DrawFn) -> list[tuple[dict[str, float], dict[str, float] | None, int]]:
    out = []
    for _ in range(draw(st.integers(1, 30))):
        key = draw(st.sampled_from(BOUND_KEYS))
        bound = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0]))
        clear = None
        if draw(st.booleans()):  # hysteresis on the healthy side of the bound
            clear = {"above": bound + 0.2} if key in ("below", "at_most") else {"below": bound - 0.2}
        out.append(({key: bound}, clear, draw(st.sampled_from([0, 0, 60, 300]))))
    return out


@settings(max_examples=120, deadline=None)
@given(rule_set(), st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([0.2, 0.5, 0.9, 1.0, 1.3,
                                                                                         1.6, 2.1, 2.5])),
                            min_size=1, max_size=40))
def test_many_threshold_rules_fire_and_clear_as_each_rule_alone(
        specs: list[tuple[dict[str, float], dict[str, float] | None, int]], readings: list[tuple[str, float]]) -> None:
    rules = [threshold_rule(n, cond, clear, for_s) for n, (cond, clear, for_s) in enumerate(specs)]
    engine = RuleEngine(rules, site=SiteContext("UTC"))
    engine.set_devices({d: DeviceInfo(d, kind="extinguisher") for d in ("a", "b")})
    refs = {(r.id, d): Reference(r.condition, r.clear, r.for_) for r in rules for d in ("a", "b")}  # type: ignore[arg-type]
    got, want = [], []
    for i, (device, value) in enumerate(readings):
        now = T0 + timedelta(seconds=90 * i)
        got += [(e.rule, e.device, e.state, e.ts) for e in engine.tick(now)]
        for (rid, dev), ref in refs.items():
            if (when := ref.due(now)) is not None:
                ref.firing = True
                want.append((rid, dev, "firing", when))
        got += [(e.rule, e.device, e.state, e.ts)
                for e in engine.on_reading(Reading(device, "pressure_mpa", value, "MPa", now), now)]
        for rid, dev in sorted(refs):
            if dev == device:
                want += [(rid, dev, state, ts) for state, ts in refs[(rid, dev)].read(value, now)]
    assert sorted(got) == sorted(want)
    holding = {(rid, dev) for (rid, dev), ref in refs.items() if ref.active or ref.firing}
    assert {(t["rule"], t["device"]) for t in engine.snapshot()["tracks"]} == holding
    assert set(engine.firing()) == {k for k, ref in refs.items() if ref.firing}


def test_a_thousand_rules_keep_no_state_for_healthy_devices() -> None:
    """Healthy readings leave nothing behind: 1,000 rules x 200 devices hold no track, so memory
    grows with the faults, not with rules x devices; the one device out of range holds its rules."""
    rules = [threshold_rule(n, {"below": n / 1000}, None, 0) for n in range(1000)]
    engine = RuleEngine(rules, site=SiteContext("UTC"))
    devices = [f"ext-{i:03d}" for i in range(200)]
    engine.set_devices({d: DeviceInfo(d, kind="extinguisher") for d in devices})
    for minute in range(3):
        now = T0 + timedelta(minutes=minute)
        for d in devices:
            assert engine.on_reading(Reading(d, "pressure_mpa", 1.2, "MPa", now), now) == []
    assert engine.snapshot()["tracks"] == []
    now = T0 + timedelta(minutes=5)
    fired = engine.on_reading(Reading("ext-007", "pressure_mpa", 0.5005, "MPa", now), now)
    # below n/1000 holds for 0.5005 when n >= 501: rules t501..t999
    assert sorted(e.rule for e in fired) == [f"t{n:03d}" for n in range(501, 1000)]
    later = now + timedelta(minutes=1)
    cleared = engine.on_reading(Reading("ext-007", "pressure_mpa", 1.2, "MPa", later), later)
    assert len(cleared) == 499 and {e.state for e in cleared} == {"cleared"}
    assert engine.snapshot()["tracks"] == []
