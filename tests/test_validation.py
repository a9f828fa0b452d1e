"""One duration, one severity, one strict model for every file a site edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.core.validation import SEVERITIES, Duration, PositiveDuration, Strict, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("6h", 21600), ("1d", 86400),
                                               ("1h30m", 5400), ("500ms", 0.5), (45, 45), ("1.5h", 5400),
                                               ("2d", 172800), (0, 0), ("0m", 0)])
def test_durations_parse_to_timedeltas(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "15", "5 minutes", "-5s", "m", "", True, -3, -3600, None,
                                  float("nan"), float("inf"), timedelta(seconds=-1)])
def test_anything_else_is_not_a_duration_and_the_error_shows_the_form(text: object) -> None:
    with pytest.raises(ValueError, match="write it like 90s, 15m, 6h, 1d"):
        parse_duration(text)


def test_validation_errors_are_our_sentence_without_a_prefix() -> None:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(Duration).validate_python(-3600)
    assert info.value.errors()[0]["msg"].startswith("-3600 is not a duration (it must be zero or longer)")


def test_a_positive_duration_refuses_zero() -> None:
    assert TypeAdapter(PositiveDuration).validate_python("5s") == timedelta(seconds=5)
    with pytest.raises(ValidationError, match="must be longer than zero"):
        TypeAdapter(PositiveDuration).validate_python(0)


def test_strict_models_refuse_unknown_keys_and_changes() -> None:
    class Section(Strict):
        every: Duration

    section = Section.model_validate({"every": "5m"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Section.model_validate({"every": "5m", "evry": "6m"})
    with pytest.raises(ValidationError, match="frozen"):
        section.every = timedelta(0)  # type: ignore[misc]


def test_severities_are_the_contract_s_four_in_order() -> None:
    assert SEVERITIES == ("critical", "major", "minor", "warning")
