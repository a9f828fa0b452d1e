"""Start-up guard: an API reachable from other machines must have an admin able to manage it."""

from __future__ import annotations

import shlex

from gateway.auth.config import is_loopback
from gateway.auth.tokens import TokenStore


def check_bind(host: str, store: TokenStore) -> str | None:
    """None when listening on `host` is fine, else the whole-sentence reason to refuse to start.

    Beyond loopback, anyone on the site network can reach the API; without an admin token nobody
    could ever be given (or revoke) access over it, so the gateway refuses rather than runs open.
    """
    if is_loopback(host) or store.has_admin():
        return None
    data = shlex.quote(str(store.path.parent))
    return (f"http.listen is on {host}, which other machines can reach, but no admin token exists in "
            f"{store.path}. Create one with `sitegate token create --role admin --name NAME --data {data}` "
            "(keep the token it prints), or listen on 127.0.0.1; then start again.")
