// What the signed-in token may do, from GET /api/auth/me, so the page offers only the buttons that
// would work. The server still checks every action: this only spares people a refusal.
// Unknown (no token, an old gateway without /api/auth/me or without `may`): every button is offered
// and the server's 401/403 says why, in its own words.

import {api} from "./api.js";

const TOKEN_KEY = "sitegate.token"; // where api.js keeps the token

let known = {token: undefined, may: null, zones: [], role: null};
let pending = null;

/** The caller's permissions for the token now stored; re-asked when the token changed. */
export async function loadAccess() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (known.token === token) return known;
  pending ??= (async () => {
    let next = {token, may: null, zones: [], role: null};
    try {
      if (token) {
        const me = await api("/api/auth/me");
        next = {token, may: Array.isArray(me.may) ? new Set(me.may) : null,
          zones: (me.token && me.token.zones) || [], role: me.role || null};
      }
    } catch {
      // No answer: behave as if we knew nothing, the server decides.
    }
    known = next;
    return known;
  })().finally(() => { pending = null; });
  return pending;
}

/** What we know now, without asking (null `may`: unknown, offer everything). */
export function access() {
  return known;
}

/** Whether to offer something that needs `permission` ("ticket.close"). */
export function mayDo(permission) {
  return known.may === null || known.may.has(permission);
}
