"""The ticket permission matrix of issue 12 §4, checked cell by cell against a table written by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.auth.permissions import PERMISSIONS, Permission, refusal, zones_of
from gateway.auth.tokens import ROLES, Role, TokenInfo

T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)

# Y: allowed, .: refused. Columns in this order:
COLUMNS = ("create", "accept", "dispatch", "arrive", "ack", "resolve", "close", "reopen", "revisit", "feedback",
           "cancel", "inspect")
MATRIX = """
            create accept dispatch arrive ack resolve close reopen revisit feedback cancel inspect
viewer        .      .       .       .     .     .      .     .       .       .       .      .
guard         Y      .       .       .     .     .      .     .       .       .       .      Y
engineer      Y      Y       .       Y     Y     Y      Y     Y       .       Y       .      Y
service       Y      Y       Y       .     .     .      Y     Y       Y       Y       .      .
supervisor    Y      Y       Y       Y     Y     Y      Y     Y       Y       Y       Y      Y
admin         Y      Y       Y       Y     Y     Y      Y     Y       Y       Y       Y      Y
"""


def _cells() -> list[tuple[str, str, bool]]:
    header, *rows = MATRIX.strip().splitlines()
    assert tuple(header.split()) == COLUMNS
    cells = []
    for row in rows:
        role, *marks = row.split()
        assert len(marks) == len(COLUMNS), row
        cells += [(role, f"ticket.{action}", mark == "Y") for action, mark in zip(COLUMNS, marks, strict=True)]
    return cells


def token(role: Role, zones: tuple[str, ...] = ()) -> TokenInfo:
    return TokenInfo(id="t1", name=f"{role} one", role=role, created_at=T0, zones=zones)


def test_the_table_covers_every_role_and_permission() -> None:
    cells = _cells()
    assert {(r, p) for r, p, _ in cells} == {(r, p) for r in ROLES for p in PERMISSIONS}
    assert len(cells) == 6 * 12


@pytest.mark.parametrize(("role", "permission", "allowed"), _cells())
def test_each_role_may_do_exactly_its_share(role: Role, permission: Permission, allowed: bool) -> None:
    answer = refusal(token(role), permission, "B1")
    if allowed:
        assert answer is None
    else:
        assert answer is not None and f"'{role} one' has the {role} role" in answer and permission in answer


def test_a_refusal_names_the_roles_that_may() -> None:
    assert refusal(token("engineer"), "ticket.cancel", None) == (
        "The token 'engineer one' has the engineer role, which may not do ticket.cancel; that needs a token with "
        "the supervisor or admin role. 该令牌的角色（工程）无权执行此操作。")
    dispatch = refusal(token("guard"), "ticket.dispatch", "B1")
    assert dispatch is not None and "the service or supervisor or admin role" in dispatch


def test_without_a_token_store_everything_is_allowed() -> None:
    assert all(refusal(None, p, None) is None for p in PERMISSIONS)
    assert zones_of(None) is None


def test_a_zone_limited_token_acts_only_in_its_zones() -> None:
    b1 = token("engineer", ("B1", "B2"))
    assert refusal(b1, "ticket.resolve", "B1") is None and refusal(b1, "ticket.resolve", "B2") is None
    elsewhere = refusal(b1, "ticket.resolve", "C3")
    assert elsewhere == ("The token 'engineer one' is limited to zone B1, B2; this is in zone C3. "
                         "该令牌仅限区域 B1, B2，不能处理 C3 区域。")
    assert refusal(b1, "ticket.resolve", "b1") is not None  # zones match exactly, as in the inventory
    for no_zone in (None, ""):
        reason = refusal(b1, "ticket.create", no_zone)
        assert reason is not None and "give a zone (one of B1, B2)" in reason
    # The role is checked first: a zone does not widen what a role may do.
    cancel = refusal(b1, "ticket.cancel", "B1")
    assert cancel is not None and "may not do ticket.cancel" in cancel
    assert zones_of(b1) == ("B1", "B2")


def test_a_token_for_every_zone_acts_anywhere_and_without_a_zone() -> None:
    anywhere = token("service")
    assert refusal(anywhere, "ticket.dispatch", "C3") is None and refusal(anywhere, "ticket.dispatch", None) is None
    assert zones_of(anywhere) is None


def test_an_unknown_permission_is_a_programming_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match=r"'ticket\.delete' is not a permission"):
        refusal(token("admin"), "ticket.delete", "B1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'ticket\.delete' is not a permission"):
        refusal(None, "ticket.delete", None)  # type: ignore[arg-type]
