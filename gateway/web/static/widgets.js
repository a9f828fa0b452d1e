// Small pieces the views share: state notices, badges, the SLA countdown, bars.

import {h} from "./dom.js";
import {fmtDuration, slaLeft} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";

/** What to show instead of data: null when the slot has data to render. */
export function slotNotice(slot) {
  if (slot.state === "na") return h("p", {class: "notice na", "data-i18n": "common.not_available"}, t("common.not_available"));
  if (slot.state === "error") return h("p", {class: "notice error", role: "alert"}, t("common.load_failed", {reason: slot.error}));
  if (slot.state === "loading") return h("p", {class: "notice", "data-i18n": "common.loading"}, t("common.loading"));
  return null;
}

export function severityBadge(severity) {
  return h("span", {class: `badge sev-${severity}`}, tv("severity", severity));
}

export function statusBadge(status) {
  return h("span", {class: `badge status-${status}`}, tv("status", status));
}

export function onlineBadge(online) {
  const key = online === true ? "online" : online === false ? "offline" : "unknown";
  return h("span", {class: `online online-${key}`}, tv("device_state", key));
}

/** A countdown the app's one-second ticker keeps current (it reads data-due). */
export function slaCountdown(dueAt) {
  const el = h("span", {class: "sla", dataset: {due: dueAt || ""}});
  updateCountdown(el, siteNow());
  return el;
}

export function updateCountdown(el, now) {
  const sla = slaLeft(el.dataset.due, now);
  if (!sla) {
    el.textContent = "–";
    el.classList.remove("overdue");
    return;
  }
  const text = fmtDuration(sla.left, lang());
  el.textContent = sla.overdue ? t("sla.overdue", {time: text}) : t("sla.left", {time: text});
  el.classList.toggle("overdue", sla.overdue);
}

/** A 0..1 ratio as an accessible bar (a <meter>, labelled by its percentage). */
export function ratioBar(ratio, label) {
  const value = Number.isFinite(ratio) ? Math.max(0, Math.min(1, ratio)) : 0;
  return h("meter", {min: 0, max: 1, low: 0.5, high: 0.8, optimum: 1, value,
    "aria-label": label, title: Number.isFinite(ratio) ? `${Math.round(value * 100)}%` : "–"});
}
