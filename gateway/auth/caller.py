"""Who made a request: the holder of the token the web layer verified.

The web layer's guard (gateway/web/guard.py, deps.py) stores the verified `TokenInfo` in the
request's ASGI scope under `SCOPE_KEY`; a feature's routes read it here, since they may not import
the web layer above them. The audit trail names this holder, never a name the client sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.auth.tokens import TokenInfo

SCOPE_KEY = "sitegate.auth"  # the ASGI scope entry holding the TokenInfo of an authorized request
# Who acted when the app runs without a token store (in-process tests): nobody was identified.
ANONYMOUS = "anonymous"


def token_holder(scope: Mapping[str, Any]) -> TokenInfo | None:
    """The verified token of the request (None when no token was required or none is configured)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, TokenInfo) else None


def actor_name(scope: Mapping[str, Any]) -> str:
    """The name that goes into an audit trail for this request."""
    holder = token_holder(scope)
    return holder.name if holder is not None else ANONYMOUS
