from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.timeseries.point import MEASUREMENTS, Point, epoch_ns, epoch_us

TS = datetime(2026, 11, 23, 13, 3, 11, 123456, tzinfo=UTC)
TS_NS = 1795438991123456000


def test_timestamps_are_exact_integers_in_ns_and_us_whatever_the_offset() -> None:
    shanghai = TS.astimezone(timezone(timedelta(hours=8)))
    assert epoch_ns(TS) == epoch_ns(shanghai) == TS_NS
    assert epoch_us(shanghai) == TS_NS // 1000


def test_each_field_type_is_encoded_as_line_protocol_wants() -> None:
    p = Point("reading", {"device": "lamp-1"}, {"on": True, "off": False, "n": 42, "x": 1.5, "s": "v1.2"}, TS)
    assert p.to_line() == f'reading,device=lamp-1 n=42i,off=false,on=true,s="v1.2",x=1.5 {TS_NS}'


def test_float_that_is_whole_stays_a_float_and_reads_back_exactly() -> None:
    line = Point("m", {}, {"a": 2.0, "b": 0.1 + 0.2}, TS).to_line()
    assert " a=2.0,b=0.30000000000000004 " in line


def test_tags_are_sorted_and_empty_tag_values_are_left_out() -> None:
    p = Point("reading", {"zone": "north", "device": "d1", "kind": "", "site": "hv"}, {"v": 1}, TS)
    assert p.to_line().startswith("reading,device=d1,site=hv,zone=north v=1i ")


def test_special_characters_are_escaped_in_every_position() -> None:
    p = Point("my meas,x", {"tag key": "a,b=c d\\e"}, {"field=k": 'say "hi" \\ bye\nnext'}, TS)
    assert p.to_line() == (r'my\ meas\,x,tag\ key=a\,b\=c\ d\\e field\=k="say \"hi\" \\ bye\nnext" '
                           f"{TS_NS}")


def test_an_encoded_point_is_always_one_line() -> None:
    p = Point("m\n", {"t\r": "v\n"}, {"f\t": "a\nb\rc"}, TS)
    assert "\n" not in p.to_line() and "\r" not in p.to_line()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"measurement": ""}, "needs a measurement"),
    ({"fields": {}}, "at least one field"),
    ({"fields": {"v": math.nan}}, "no NaN or infinity"),
    ({"fields": {"v": math.inf}}, "no NaN or infinity"),
    ({"fields": {"v": 2**63}}, "64-bit integer range"),
    ({"fields": {"v": None}}, "use float, int, bool or str"),
    ({"fields": {"v": [1]}}, "use float, int, bool or str"),
    ({"fields": {"": 1}}, "non-empty strings"),
    ({"tags": {"zone": 3}}, "tag values are strings"),
    ({"tags": {"": "x"}}, "non-empty strings"),
    ({"ts": datetime(2026, 1, 1)}, "timezone-aware"),
])
def test_invalid_points_are_refused_when_built_with_a_sentence_saying_why(kwargs: dict[str, object],
                                                                          message: str) -> None:
    args: dict[str, object] = {"measurement": "reading", "tags": {"device": "d"}, "fields": {"v": 1.0}, "ts": TS}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Point(**args)  # type: ignore[arg-type]


def test_int64_bounds_are_accepted() -> None:
    line = Point("m", {}, {"lo": -(2**63), "hi": 2**63 - 1}, TS).to_line()
    assert f"hi={2**63 - 1}i,lo={-(2**63)}i" in line


def test_contract_table_has_the_five_measurements() -> None:
    assert set(MEASUREMENTS) == {"reading", "equipment_health", "patrol_tap", "patrol_round", "ticket_event"}
    assert MEASUREMENTS["ticket_event"][1] == frozenset({"ticket_id", "response_s", "resolve_s"})


# Unescaped separators: exactly two spaces (measurement+tags | fields | time) outside string values.
def _structural_spaces(line: str) -> int:
    line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)  # blank out string field values
    return len(re.findall(r"(?<!\\) ", re.sub(r"\\\\", "", line)))


# Names without '"': the checker below blanks out quoted string values and would misread a quote in a
# measurement or key (which line protocol carries unescaped) as the start of one.
names = st.text(st.characters(codec="utf-8", exclude_characters='"'), min_size=1, max_size=12)
values = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(st.characters(codec="utf-8"), max_size=12))


@given(names, st.dictionaries(names, names, max_size=4), st.dictionaries(names, values, min_size=1, max_size=4))
def test_any_valid_point_encodes_to_one_line_with_three_parts(measurement: str, tags: dict[str, str],
                                                               fields: dict[str, object]) -> None:
    line = Point(measurement, tags, fields, TS).to_line()  # type: ignore[arg-type]
    assert "\n" not in line
    assert _structural_spaces(line) == 2
    assert line.endswith(f" {TS_NS}")


@pytest.mark.parametrize("fields", [{"v": float("nan")}, {"v": float("inf")}, {"v": 2**63}, {"v": object()}, {}])
def test_trusted_points_refuse_what_checked_points_refuse(fields: dict[str, Any]) -> None:
    """Point.trusted skips only the name and tag checks: bad values still raise, with the same words."""
    ts = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError) as checked:
        Point("reading", {"device": "d1"}, fields, ts)
    with pytest.raises(ValueError) as trusted:
        Point.trusted("reading", {"device": "d1"}, fields, ts)
    assert str(trusted.value) == str(checked.value)


def test_trusted_points_refuse_naive_times_and_equal_checked_points() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Point.trusted("reading", {"device": "d1"}, {"v": 1.0}, datetime(2026, 11, 20, 12, 0))
    ts = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    fields = {"a": 1.5, "b": 2**62, "c": True, "d": "text"}
    assert Point.trusted("reading", {"device": "d1"}, fields, ts) == Point("reading", {"device": "d1"}, fields, ts)
