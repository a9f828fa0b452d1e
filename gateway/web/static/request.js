// "New request 登记报修/投诉": the front desk or customer service registers a complaint or a repair
// request from a person (POST /api/tickets); the new ticket opens. The server's refusal is shown in
// its own words (403 role or zone, 422 bad data).

import {api} from "./api.js";
import {h, options} from "./dom.js";
import {t, tv} from "./i18n.js";
import {store} from "./store.js";

export const SOURCES = ["complaint", "repair"];
export const CHANNELS = ["phone", "desk", "online", "patrol"];
// Complaints are about service, management or a facility; repairs use the facility time-limit
// table's categories (docs/tickets.md, tickets.sla.categories).
export const CATEGORIES = {
  complaint: ["service", "management", "facility"],
  repair: ["lift", "water", "power", "lighting", "fire", "security", "plumbing", "hvac", "device", "general"],
};
const PHOTO_LINK = /^https?:\/\/\S+$/i;

/** The request body from the form's values; {error: key, params} when something is wrong. */
export function requestBody(values) {
  const photos = values.photos.split(/\s+/).map((s) => s.trim()).filter(Boolean);
  const bad = photos.find((p) => !PHOTO_LINK.test(p));
  if (bad) return {error: "request.bad_photo", params: {link: bad}};
  if (!values.title.trim()) return {error: "request.need_title", params: {}};
  const body = {
    source: values.source, channel: values.channel, title: values.title.trim(),
    description: values.description.trim(), category: values.category, place: values.place.trim(),
    emergency: values.emergency, reporter: {name: values.name.trim(), contact: values.contact.trim()}, photos,
  };
  if (values.zone) body.zone = values.zone;
  return {body};
}

/** The form; `zones()` lists the zones to offer, `onCreated(ticket)` opens the new ticket. */
export function createRequestForm({zones, onCreated}) {
  const control = (tag, name, attrs = {}) => h(tag, {id: `request-${name}`, name, ...attrs});
  const c = {
    source: control("select", "source"),
    channel: control("select", "channel"),
    title: control("input", "title", {required: true, maxlength: 200, autocomplete: "off"}),
    description: control("textarea", "description", {rows: 3, maxlength: 4000}),
    category: control("select", "category"),
    place: control("input", "place", {maxlength: 400, autocomplete: "off"}),
    zone: control("select", "zone"),
    emergency: control("input", "emergency", {type: "checkbox"}),
    name: control("input", "name", {maxlength: 200, autocomplete: "off"}),
    contact: control("input", "contact", {maxlength: 200, autocomplete: "off", inputmode: "tel"}),
    photos: control("textarea", "photos", {rows: 2, maxlength: 8000}),
  };
  const labels = {};
  const field = (name, extra = "") => {
    labels[name] = h("label", {for: `request-${name}`});
    return h("div", {class: `field ${extra}`.trim()}, labels[name], c[name]);
  };
  labels.emergency = h("label", {for: "request-emergency"});
  const hint = h("p", {class: "muted hint", id: "request-photos-hint"});
  c.photos.setAttribute("aria-describedby", "request-photos-hint");
  const submit = h("button", {type: "submit", id: "request-submit"});
  const result = h("p", {class: "result", id: "request-result", role: "status"});
  const reporter = h("fieldset", {class: "reporter"}, h("legend", {}), field("name"), field("contact"));
  const el = h("form", {class: "request-form", id: "request-form", novalidate: true, onsubmit: send},
    h("div", {class: "request-grid"}, field("source"), field("channel"), field("category"), field("zone")),
    field("title"), field("description"), field("place"),
    h("div", {class: "check"}, c.emergency, labels.emergency),
    reporter, field("photos"), hint,
    h("div", {class: "buttons"}, submit), result);

  c.source.addEventListener("change", relabel);

  function values() {
    return {source: c.source.value, channel: c.channel.value, title: c.title.value,
      description: c.description.value, category: c.category.value, place: c.place.value, zone: c.zone.value,
      emergency: c.emergency.checked, name: c.name.value, contact: c.contact.value, photos: c.photos.value};
  }

  /** Show a message; `words` makes its text, so a language switch can word it again (resay). */
  let said = null;
  function say(words, error) {
    said = {words, error};
    result.className = error ? "result error" : "result";
    result.setAttribute("role", error ? "alert" : "status");
    result.textContent = words();
  }

  function resay() {
    if (said) result.textContent = said.words();
  }

  async function send(event) {
    event.preventDefault();
    const made = requestBody(values());
    if (made.error) {
      say(() => t(made.error, made.params), true);
      (made.error === "request.need_title" ? c.title : c.photos).focus();
      return;
    }
    submit.disabled = true;
    say(() => t("common.sending"), false);
    try {
      const ticket = await api("/api/tickets", {method: "POST", body: made.body});
      store.tickets.byId.set(ticket.id, ticket);
      store.recent.set(ticket.id, Date.now());
      reset();
      onCreated(ticket);
    } catch (err) {
      say(() => t("tickets.refused", {status: err.status || "-", reason: err.detail || err.message}), true);
    } finally {
      submit.disabled = false;
    }
  }

  function reset() {
    el.reset();
    say(() => "", false);
  }

  /** Labels in the current language; option lists kept in step with the source and known zones. */
  function relabel() {
    options(c.source, SOURCES.map((s) => [s, tv("source", s)]), c.source.value || "complaint");
    options(c.channel, CHANNELS.map((s) => [s, tv("channel", s)]), c.channel.value || "phone");
    const categories = CATEGORIES[c.source.value] || CATEGORIES.complaint;
    options(c.category, categories.map((s) => [s, tv("category", s)]), c.category.value || categories[0]);
    options(c.zone, [["", t("request.no_zone")], ...zones().map((z) => [z, z])], c.zone.value);
    for (const name of Object.keys(labels)) labels[name].textContent = t(`request.${name}`);
    reporter.querySelector("legend").textContent = t("request.reporter");
    hint.textContent = t("request.photos_hint");
    submit.textContent = t("request.submit");
    resay();
  }

  return {el, relabel, reset, focus: () => c.title.focus()};
}
