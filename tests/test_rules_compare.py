"""`Bounds.fast_test` is `Bounds.test`, faster: checked against `test` (the language's definition)
on every kind of value a reading can carry."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.rules.compare import Bounds

numbers = st.one_of(st.integers(-10, 10), st.floats(-10, 10), st.just(float("nan")),
                    st.just(float("inf")), st.integers(2**53, 2**53 + 9))
values = st.one_of(numbers, st.booleans(), st.text(max_size=3))
one_bound = st.one_of(
    st.tuples(st.sampled_from(["below", "at_most", "above", "at_least"]), numbers.filter(lambda x: x == x)),
    st.tuples(st.sampled_from(["equals", "not_equals"]), values))


@settings(max_examples=400)
@given(st.lists(one_bound, min_size=1, max_size=3), st.lists(values, min_size=1, max_size=10))
def test_fast_test_answers_what_test_answers(bounds: list[tuple[str, Any]], seen: list[Any]) -> None:
    b = Bounds.model_validate(dict(bounds))
    fast = b.fast_test()
    for v in seen:
        assert fast(v) == b.test(v), (dict(bounds), v)
        assert type(fast(v)) is type(b.test(v))


def test_the_common_single_bounds_get_their_own_closure_and_keep_bools_apart() -> None:
    below = Bounds(below=0.02)
    assert below.fast_test() != below.test  # the closure, not the method
    assert below.fast_test()(0.01) is True and below.fast_test()(0) is True
    assert below.fast_test()(True) is None and below.fast_test()(False) is None  # a bool is no number
    # An integer is compared as the float it becomes, as `test` does (past 2**53 they differ).
    assert Bounds(at_most=2**53).fast_test()(2**53 + 1) is Bounds(at_most=2**53).test(2**53 + 1) is True
    on = Bounds(equals=True)
    assert on.fast_test()(True) is True and on.fast_test()(1) is False  # true is not 1
