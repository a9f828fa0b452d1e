// The service loop's stages on a ticket's page: respond, arrive, resolve, revisit, each with its
// deadline, when it was done, and whether that was on time (or how long is left).

import {h} from "./dom.js";
import {parseTs} from "./format.js";
import {t, tv} from "./i18n.js";
import {slaCountdown} from "./widgets.js";

export const STAGES = ["respond", "arrive", "resolve", "revisit"];

/** "2026-12-03 14:00" in the site's time zone: one form for both languages, sortable by eye. */
export function fmtSiteStamp(ms, tz) {
  if (!Number.isFinite(ms)) return "–";
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZone: tz,
  }).formatToParts(ms).map((part) => [part.type, part.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** One stage's record: {due, done_at, late} from the ticket's `stages`, else from the older fields. */
function stageOf(tk, stage) {
  const given = tk.stages && tk.stages[stage];
  if (given) return given;
  const due = tk.deadlines ? tk.deadlines[stage] : null;
  return {due: due ?? null, done_at: null, late: (tk.late_stages || []).includes(stage)};
}

/** The state cell: late / on time once done; a live countdown while due; "–" without a deadline. */
function stateCell(tk, s, now) {
  const due = parseTs(s.due), done = parseTs(s.done_at);
  if (Number.isFinite(done)) {
    const late = s.late || (Number.isFinite(due) && done > due);
    return h("span", {class: `stage-state ${late ? "late" : "on-time"}`, dataset: {state: late ? "late" : "on_time"}},
      tv("stage_state", late ? "late" : "on_time"));
  }
  if (!Number.isFinite(due)) return h("span", {class: "muted", dataset: {state: "none"}}, "–");
  if (["cancelled", "closed"].includes(tk.status)) {
    return h("span", {class: "muted", dataset: {state: "not_done"}}, tv("stage_state", "not_done"));
  }
  const el = slaCountdown(s.due);
  el.dataset.state = due <= now ? "overdue" : "due";
  return el;
}

/** The stages table; `tz` is the site's time zone. */
export function stagesTable(tk, tz, now) {
  const rows = STAGES.map((stage) => {
    const s = stageOf(tk, stage);
    return h("tr", {dataset: {stage}},
      h("th", {scope: "row"}, tv("stage", stage)),
      h("td", {class: "due"}, fmtSiteStamp(parseTs(s.due), tz)),
      h("td", {class: "done"}, fmtSiteStamp(parseTs(s.done_at), tz)),
      h("td", {class: "state"}, stateCell(tk, s, now)));
  });
  return h("div", {class: "table-wrap"}, h("table", {class: "stages", id: "ticket-stages"},
    h("caption", {}, t("stages.caption")),
    h("thead", {}, h("tr", {}, ["stages.stage", "stages.due", "stages.done", "stages.state"]
      .map((k) => h("th", {scope: "col"}, t(k))))),
    h("tbody", {}, rows)));
}
