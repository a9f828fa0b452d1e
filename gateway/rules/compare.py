"""The comparison language of rules: `below`, `at_most`, `above`, `at_least`, `equals`, `not_equals`.

Used by conditions (`{type: threshold, below: 1.0}`), by the terms of a state condition and by
`clear:` (hysteresis). Several keys mean all must hold, so `{at_least: 0, below: 30}` is a range.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from pydantic import StrictBool, model_validator

from gateway.core.model import Value
from gateway.core.validation import Strict
from gateway.devices.vocabulary import lookup

Scalar = StrictBool | int | float | str


def number(v: Value) -> float | None:
    # A bool is not a number here: `pressure below 1.0` must not fire on `true`.
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def same(a: Value, b: Value) -> bool:
    # true must not equal 1: a boolean state and a number are different things.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


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
        if self.equals is not None and not same(v, self.equals):
            return False
        if self.not_equals is not None and same(v, self.not_equals):
            return False
        if self.below is None and self.at_most is None and self.above is None and self.at_least is None:
            return True
        x = number(v)
        if x is None:
            return None
        return not (
            (self.below is not None and not x < self.below)
            or (self.at_most is not None and not x <= self.at_most)
            or (self.above is not None and not x > self.above)
            or (self.at_least is not None and not x >= self.at_least)
        )

    def fast_test(self) -> Callable[[Value], bool | None]:
        """`test` for a rule that runs at every reading: one bound alone (`below: 0.02`, `equals: true`)
        becomes a closure over it, about a third of the cost; anything else is `test` itself."""
        keys = [k for k in _BOUND_KEYS if getattr(self, k) is not None]
        if keys == ["equals"]:
            wanted = self.equals
            is_bool = isinstance(wanted, bool)
            return lambda v: isinstance(v, bool) == is_bool and v == wanted  # `same`
        if len(keys) == 1 and keys[0] in _ORDER:
            cmp, bound, general = _ORDER[keys[0]], getattr(self, keys[0]), self.test

            def one_bound(v: Value) -> bool | None:
                kind = type(v)
                if kind is float:
                    return cmp(v, bound)  # type: ignore[no-any-return]
                if kind is int:
                    return cmp(float(v), bound)  # type: ignore[no-any-return]  # as `number` does
                return general(v)  # bools, text, number subclasses: the general rule

            return one_bound
        return self.test

    def describe(self, unit: str | None = None) -> str:
        """The comparison as people read it: "< 0.02 A", "≥ 0, < 30", "= true"."""
        parts = []
        for key, sign in SIGNS:
            if (v := getattr(self, key)) is not None:
                numeric = key not in ("equals", "not_equals")
                parts.append(f"{sign} {show(v)}{f' {unit}' if unit and numeric else ''}")
        return ", ".join(parts)

    def explain(self, metric: str, value: Value, unit: str | None = None) -> str:
        """`value` of `metric` against this comparison: "current_a 0.003 A < 0.02 A", "smoke = true"."""
        if self.equals is not None and all(getattr(self, k) is None for k in _BOUND_KEYS if k != "equals"):
            return f"{metric} = {show(value)}"
        return f"{metric} {show(value)}{f' {unit}' if unit else ''} {self.describe(unit)}"

    def threshold(self) -> Scalar | None:
        """The bound shown to people as {threshold}."""
        for key in _BOUND_KEYS:
            if (v := getattr(self, key)) is not None:
                return v  # type: ignore[no-any-return]
        return None


_BOUND_KEYS = ("below", "at_most", "above", "at_least", "equals", "not_equals")
_ORDER = {"below": operator.lt, "at_most": operator.le, "above": operator.gt, "at_least": operator.ge}
# Lower bounds first, so a range reads "≥ 0, < 30".
SIGNS = (("above", ">"), ("at_least", "≥"), ("below", "<"), ("at_most", "≤"), ("equals", "="),
          ("not_equals", "≠"))


def show(v: Value | None) -> str:
    """A value as people read it: true/false as in the rule files, 1.0 as 1, 0.003 as 0.003."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return "-" if v is None else str(v)


def unit_of(metric: str) -> str | None:
    """The unit of a canonical metric (devices/vocabulary.py), channel suffixes included."""
    found = lookup(metric)
    return found.unit if found is not None else None


class NeedsBound(Bounds):
    """A comparison that must say something (a condition, not an empty filter)."""

    @model_validator(mode="after")
    def _one_bound(self) -> NeedsBound:
        if not self.bounded():
            raise ValueError("needs a comparison: one of below, at_most, above, at_least, equals, not_equals")
        return self


def check_hysteresis(firing: Bounds, clear: Bounds) -> None:
    """A clear band that overlaps the firing band would open and clear on the same value."""
    low = firing.below if firing.below is not None else firing.at_most
    high = firing.above if firing.above is not None else firing.at_least
    clear_up = clear.above if clear.above is not None else clear.at_least
    clear_down = clear.below if clear.below is not None else clear.at_most
    if low is not None and clear_up is not None and clear_up < low:
        raise ValueError(f"clear at {clear_up} is inside the firing band (below {low}); "
                         f"make it at least {low}")
    if high is not None and clear_down is not None and clear_down > high:
        raise ValueError(f"clear at {clear_down} is inside the firing band (above {high}); "
                         f"make it at most {high}")
