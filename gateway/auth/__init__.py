"""Who may do what over HTTP: hashed bearer tokens with roles, the route policy, security headers.

- `tokens.TokenStore`: tokens in `<data>/auth.db`, argon2id-hashed, created/listed/revoked.
- `policy.protect(app, store, read_open=...)`: every route gets the role its method and path need
  (non-GET needs engineer unless listed), enforced before routing, plus security headers and CORS.
- `deps.require(role)`: the same check as a FastAPI dependency, for routers that want it explicit.
- `bind.check_bind(host, store)`: refuse to listen beyond loopback while no admin token exists.
- `api.make_auth_router(store)`: `/api/auth/me` and token administration (admin) over HTTP.
- `cli`: `sitegate token create|list|revoke`.
"""
