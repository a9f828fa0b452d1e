// Which actions a ticket's detail offers: what its status allows (docs/tickets.md, the lifecycle)
// AND what the token's role may do (access.js). Pure: no DOM, no fetch.

// The permission each action asks of the caller (gateway/tickets/api.py PERMISSION).
export const PERMISSION = {
  ack: "ticket.ack", accept: "ticket.accept", arrive: "ticket.arrive", resolve: "ticket.resolve",
  close: "ticket.close", reopen: "ticket.reopen", cancel: "ticket.cancel", revisit: "ticket.revisit",
  feedback: "ticket.feedback",
};

// Button order on the page: the service loop's order, then the rarer ones.
export const ORDER = ["accept", "ack", "arrive", "resolve", "revisit", "close", "reopen", "feedback", "cancel"];

// Actions that ask for details before they are sent (a small panel under the buttons).
export const NEEDS_DETAILS = new Set(["accept", "resolve", "revisit"]);

/** A person resolved it and the site revisits its source: only a revisit closes it. */
export function needsRevisit(tk) {
  const due = tk.revisit_due_at ?? (tk.deadlines && tk.deadlines.revisit);
  return Boolean(due) && tk.revisit_result !== "ok";
}

function arrived(tk) {
  return Boolean(tk.arrived_at || (tk.stages && tk.stages.arrive && tk.stages.arrive.done_at));
}

/** The actions the status allows now, in button order. */
export function actionsForStatus(tk) {
  const offered = new Set();
  if (tk.status === "open") {
    for (const a of ["accept", "ack", "arrive", "resolve", "cancel"]) offered.add(a);
  } else if (tk.status === "acknowledged") {
    // Accept again dispatches to someone else; never "close" before it was resolved.
    offered.add("accept");
    if (!arrived(tk)) offered.add("arrive");
    offered.add("resolve");
    offered.add("cancel");
  } else if (tk.status === "resolved") {
    offered.add(needsRevisit(tk) ? "revisit" : "close");
    offered.add("reopen");
  } else if (tk.status === "closed") {
    offered.add("reopen");
  }
  if (["open", "acknowledged", "resolved", "closed"].includes(tk.status)) offered.add("feedback");
  return ORDER.filter((a) => offered.has(a));
}

/** The actions to offer: allowed by the status and, when we know them, by the token's permissions
 * and its zones (a token limited to zones may act only on their tickets; the server refuses the rest). */
export function offeredActions(tk, may, zones = []) {
  if (zones && zones.length && !zones.includes(tk.zone)) return [];
  return actionsForStatus(tk).filter((a) => may === null || may === undefined || may.has(PERMISSION[a]));
}
