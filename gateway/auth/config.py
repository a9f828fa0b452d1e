"""The `auth:` section of the site file (declared in gateway/auth/feature.py).

```yaml
auth:
  read_open: true          # GET without a token; default: open when http.listen is loopback, else closed
  cors_origins: []         # browser origins allowed to call the API from other pages; default none
  token_cache_ttl: 30s     # how long a verified token is trusted without re-checking its hash
```
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from gateway.core.validation import Duration, Strict, problem


def _origin(value: str) -> str:
    # An origin is exactly scheme://host[:port]: a path or a wildcard would not match what browsers send.
    parts = urlsplit(value)
    if value == "*" or parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("",) \
            or parts.query or parts.fragment or "*" in value:
        raise problem(f"'{value}' is not a browser origin; list each one exactly, "
                                              "like https://ops.example.com or http://192.168.1.20:3000")
    return value


def _ttl(value: timedelta) -> timedelta:
    if not timedelta(0) <= value <= timedelta(hours=1):
        raise problem("must be between 0s and 1h (0s checks the hash on every request)")
    return value


class AuthConfig(Strict):
    read_open: bool | None = Field(default=None, description="GET without a token; None: only on loopback")
    cors_origins: list[Annotated[str, AfterValidator(_origin)]] = Field(default_factory=list)
    token_cache_ttl: Annotated[Duration, AfterValidator(_ttl)] = timedelta(seconds=30)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; any other name or address may be reachable from outside."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_open(auth: AuthConfig, listen_host: str) -> bool:
    """Whether GET needs no token: as configured, else open only when nobody else can connect."""
    return auth.read_open if auth.read_open is not None else is_loopback(listen_host)
