"""`state`: a device's latest values together, `all` or `any` of several comparisons."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from gateway.core.model import Value
from gateway.rules.compare import Bounds, unit_of
from gateway.rules.conditions.base import Evaluator, Track
from gateway.rules.conditions.window import TimeWindow

if TYPE_CHECKING:
    from gateway.rules.schema import Rule


class Term(Bounds):
    metric: str | None = None  # defaults to the rule's single match metric


class StateCondition(TimeWindow):
    """A device's latest values together: all/any of several comparisons, optionally on a schedule."""

    type: Literal["state"]
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

    def check(self, rule: Rule) -> None:
        if any(t.metric is None for t in self.terms) and not rule.metric:
            raise ValueError("every state comparison needs a `metric` (or the rule a single match.metric)")

    def shown_threshold(self) -> Any:
        return self.terms[0].threshold()

    def evaluator(self, rule: Rule) -> Evaluator:
        return StateEval([(term.metric or rule.metric or "", term) for term in self.terms], every=self.all is not None)


class StateEval(Evaluator):
    uses_latest = True

    def __init__(self, terms: list[tuple[str, Term]], *, every: bool) -> None:
        self._terms = terms
        self._tests = [(metric, term.fast_test()) for metric, term in terms]  # run at every reading
        self.metrics = frozenset(m for m, _ in terms)
        self._all = every

    def reading(self, t: Track, metric: str, value: Value, now: datetime, latest: Mapping[str, Value]) -> None:
        self._eval(t, latest)

    def at(self, t: Track, now: datetime, latest: Mapping[str, Value], heartbeat: timedelta | None) -> None:
        self._eval(t, latest)

    def _eval(self, t: Track, latest: Mapping[str, Value]) -> None:
        first_metric = self._terms[0][0]
        t.metric, t.value = first_metric, latest.get(first_metric)
        hits = 0
        for metric, test in self._tests:
            value = latest.get(metric)
            if value is not None and test(value) is True:
                if not hits and not self._all:
                    t.metric, t.value = metric, value  # show the reason, not just the first term
                hits += 1
        t.active = hits == len(self._terms) if self._all else hits > 0

    def explain(self, t: Track, latest: Mapping[str, Value], heartbeat: timedelta | None) -> str:
        # The comparisons that hold now (for `all`, every one of them).
        held = [term.explain(metric, value, unit_of(metric)) for metric, term in self._terms
                if (value := latest.get(metric)) is not None and term.test(value) is True]
        return "; ".join(held)
