"""Threshold rules indexed by their bound, so a reading costs a binary search, not one test per rule.

A site with hundreds of threshold rules on the same kind and metric (a bound per model of
extinguisher, per floor, per customer contract) would otherwise run every one of them on every
reading, although nearly all readings are healthy and change nothing. A plain threshold rule (no
`during`, one channel) that is not holding has no state worth keeping: the engine keeps its track
only while the condition holds or the alert fires (see RuleEngine), and asks this index which rules
a value newly makes hold. Rules whose tracks exist are run as before, so hysteresis (`clear`),
`for` and clearing are the evaluator's, unchanged.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from gateway.core.model import Value
from gateway.rules.compare import Bounds, number

T = TypeVar("T")


class ThresholdIndex(Generic[T]):
    """Which of a set of items (each with the Bounds that makes it hold) a value makes hold.

    A single numeric bound (`above`, `at_least`, `below`, `at_most`) is kept in a sorted list, so the
    items a number makes hold are a prefix or a suffix found by bisection. Any other comparison
    (a range, `equals`, `not_equals`) is tested one by one; such rules are rare.
    """

    def __init__(self, items: Iterable[tuple[T, Bounds]]) -> None:
        above: list[tuple[float, int, T]] = []
        at_least: list[tuple[float, int, T]] = []
        below: list[tuple[float, int, T]] = []
        at_most: list[tuple[float, int, T]] = []
        self._tested: list[tuple[T, Bounds]] = []
        for n, (item, bounds) in enumerate(items):
            key, bound = _single_bound(bounds)
            lists = {"above": above, "at_least": at_least, "below": below, "at_most": at_most}
            if key is None or bound is None:
                self._tested.append((item, bounds))
            else:
                lists[key].append((bound, n, item))
        self._above = _Sorted(above)
        self._at_least = _Sorted(at_least)
        self._below = _Sorted(below)
        self._at_most = _Sorted(at_most)

    def holding(self, value: Value) -> list[T]:
        """The items whose comparison `value` satisfies (a value that is not a number satisfies no
        numeric bound, as Bounds.test says)."""
        out = [item for item, bounds in self._tested if bounds.test(value)]
        x = number(value)
        if x is None:
            return out
        out += self._above.items[:bisect_left(self._above.bounds, x)]  # bound < x
        out += self._at_least.items[:bisect_right(self._at_least.bounds, x)]  # bound <= x
        out += self._below.items[bisect_right(self._below.bounds, x):]  # bound > x
        out += self._at_most.items[bisect_left(self._at_most.bounds, x):]  # bound >= x
        return out


class _Sorted(Generic[T]):
    def __init__(self, entries: Sequence[tuple[float, int, T]]) -> None:
        ordered = sorted(entries, key=lambda e: (e[0], e[1]))
        self.bounds = [b for b, _, _ in ordered]
        self.items = [item for _, _, item in ordered]


def _single_bound(b: Bounds) -> tuple[str | None, float | None]:
    """The one numeric bound of a comparison that has only that, else (None, None)."""
    if b.equals is not None or b.not_equals is not None:
        return None, None
    present = [(k, v) for k, v in (("above", b.above), ("at_least", b.at_least), ("below", b.below),
                                   ("at_most", b.at_most)) if v is not None]
    if len(present) != 1:
        return None, None
    return present[0]
