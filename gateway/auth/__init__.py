"""Who may do what: hashed bearer tokens with roles and zones, and the `auth:` section of the site file.

- `tokens.TokenStore`: tokens in `<data>/auth.db`, argon2id-hashed, created/listed/revoked.
- `bind.check_bind(host, store)`: refuse to listen beyond loopback while no admin token exists.
- `cli`: `sitegate token create|list|revoke`.
- `caller`: who made a request (the verified token's holder), for audit trails such as ticket history.
- `permissions.refusal(holder, permission, zone)`: what each role may do to a ticket, and in which zones.

Their HTTP side lives in the web layer: `gateway/web/guard.py` (every route gets the role its method
and path need), `deps.py` (the same check as a FastAPI dependency), `headers.py` (security headers,
CORS) and `auth_api.py` (`/api/auth/me` and token administration).
"""
