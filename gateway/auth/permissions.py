"""What each role may do to a ticket, and where: the fine check behind the HTTP policy's coarse floor.

The policy middleware (gateway/web/guard.py) only makes sure a ticket write comes from at least a
guard; the ticket API then asks `refusal(holder, permission, zone)` for the exact action and the
ticket's zone. Pure: no I/O, no clock, so the matrix below is the whole story.

Who does what (least privilege, issue 12 §4):
- viewer: reads only.
- guard: reports problems found on patrol, and looks at tickets.
- engineer: does the repair (accept, arrive, acknowledge, resolve), and may close, reopen and leave feedback.
- service (customer service): takes requests, dispatches them, visits back the person who reported,
  closes and reopens; does not do the repair.
- supervisor, admin: everything; only they may cancel a ticket.
"""

from __future__ import annotations

from typing import Literal, get_args

from gateway.auth.tokens import ROLES, Role, TokenInfo

Permission = Literal["ticket.create", "ticket.accept", "ticket.dispatch", "ticket.arrive", "ticket.ack",
                     "ticket.resolve", "ticket.close", "ticket.reopen", "ticket.revisit", "ticket.feedback",
                     "ticket.cancel", "ticket.inspect"]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)

_EVERYTHING: frozenset[Permission] = frozenset(PERMISSIONS)
GRANTS: dict[Role, frozenset[Permission]] = {
    "viewer": frozenset(),
    "guard": frozenset({"ticket.create", "ticket.inspect"}),
    "engineer": frozenset({"ticket.create", "ticket.accept", "ticket.arrive", "ticket.ack", "ticket.resolve",
                           "ticket.reopen", "ticket.close", "ticket.feedback", "ticket.inspect"}),
    "service": frozenset({"ticket.create", "ticket.dispatch", "ticket.accept", "ticket.feedback",
                          "ticket.revisit", "ticket.close", "ticket.reopen"}),
    "supervisor": _EVERYTHING,
    "admin": _EVERYTHING,
}

# For refusal messages read by people on site.
ROLE_NAMES_ZH: dict[Role, str] = {"viewer": "查看", "guard": "保安", "engineer": "工程", "service": "客服",
                                  "supervisor": "主管", "admin": "管理员"}


def allowed(role: Role, permission: Permission) -> bool:
    """Whether the role may do this anywhere (zones aside)."""
    return permission in GRANTS[role]


def roles_with(permission: Permission) -> tuple[Role, ...]:
    """The roles that may do this, lowest first."""
    return tuple(r for r in ROLES if allowed(r, permission))


def refusal(holder: TokenInfo | None, permission: Permission, zone: str | None) -> str | None:
    """None when allowed; else a one-sentence reason for a 403 (English, then Chinese).

    `holder` None means no token store is configured (the app used in-process): everything is allowed.
    `zone` is the ticket's zone (None or "": it has none). A token limited to zones acts only in them,
    and not at all on something without a zone, since nobody could tell whether it is theirs.
    """
    if permission not in PERMISSIONS:  # a typo on the caller's side must not open anything, nor pass tests
        raise ValueError(f"'{permission}' is not a permission; use one of {', '.join(PERMISSIONS)}.")
    if holder is None:
        return None
    if not allowed(holder.role, permission):
        who = " or ".join(roles_with(permission))
        return (f"The token '{holder.name}' has the {holder.role} role, which may not do {permission}; that "
                f"needs a token with the {who} role. 该令牌的角色（{ROLE_NAMES_ZH[holder.role]}）无权执行此操作。")
    if not holder.zones:
        return None
    listed = ", ".join(holder.zones)
    if not zone:
        return (f"The token '{holder.name}' is limited to zone {listed}, and this has no zone; give a zone "
                f"(one of {listed}) or ask someone with a token for every zone. "
                f"该令牌仅限区域 {listed}，请指定区域。")
    if zone not in holder.zones:
        return (f"The token '{holder.name}' is limited to zone {listed}; this is in zone {zone}. "
                f"该令牌仅限区域 {listed}，不能处理 {zone} 区域。")
    return None


def zones_of(holder: TokenInfo | None) -> tuple[str, ...] | None:
    """The zones whose tickets the holder may see and act on; None: every zone (for filtering lists)."""
    if holder is None or not holder.zones:
        return None
    return holder.zones
