"""The registry of condition kinds: the one place that lists them.

Each kind is a module of this package declaring, in one class, its fields (the `condition:` of a
rule file), what it needs from the rule, whether it takes `clear:`, and its evaluator (see
base.ConditionSpec). The rule model validates `condition:` against the kinds listed here, and the
engine builds evaluators with `make_evaluator`; neither names a kind. rules/README.md says how to
add one.
"""

from __future__ import annotations

import functools
import operator
from datetime import tzinfo
from typing import TYPE_CHECKING, Annotated, get_args

from pydantic import Field

from gateway.rules.conditions.absent import AbsentCondition
from gateway.rules.conditions.base import ConditionSpec, Evaluator
from gateway.rules.conditions.count import CountCondition
from gateway.rules.conditions.offline import OfflineCondition
from gateway.rules.conditions.rate import RateCondition
from gateway.rules.conditions.state import StateCondition
from gateway.rules.conditions.threshold import ThresholdCondition
from gateway.rules.conditions.window import Schedule, Windowed

if TYPE_CHECKING:
    from gateway.rules.schema import Rule

KINDS: tuple[type[ConditionSpec], ...] = (
    ThresholdCondition, StateCondition, AbsentCondition, OfflineCondition, CountCondition, RateCondition)

# The `type:` names, in the order above.
TYPES: tuple[str, ...] = tuple(get_args(kind.model_fields["type"].annotation)[0] for kind in KINDS)
CLEARABLE_TYPES: tuple[str, ...] = tuple(name for name, kind in zip(TYPES, KINDS, strict=True) if kind.clearable)

if TYPE_CHECKING:
    Condition = ConditionSpec
else:
    # pydantic picks the kind by its `type` tag, and reports errors under that kind only.
    Condition = Annotated[functools.reduce(operator.or_, KINDS), Field(discriminator="type")]


def make_evaluator(rule: Rule, tz: tzinfo, latitude: float, longitude: float) -> Evaluator:
    """The evaluator of the rule's condition, limited to its `during` when it has one."""
    ev = rule.condition.evaluator(rule)
    during = rule.condition.applies_during()
    return Windowed(ev, Schedule(during, tz, latitude, longitude)) if during is not None else ev


__all__ = ["CLEARABLE_TYPES", "KINDS", "TYPES", "Condition", "ConditionSpec", "Evaluator", "make_evaluator"]
