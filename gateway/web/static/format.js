// Pure helpers: time, durations, SLA, site dates, coverage. No DOM, no fetch; `now` is passed in.

const SEVERITIES = ["critical", "major", "minor", "warning"];

/** Milliseconds since the epoch from an ISO string or a number (seconds or milliseconds); NaN if unknown. */
export function parseTs(value) {
  if (typeof value === "number") return value > 1e11 ? value : value * 1000;
  if (typeof value === "string" && value) return Date.parse(value);
  return NaN;
}

/** The site's time zone when the gateway names it and the browser knows it, else undefined (local). */
export function validZone(tz) {
  if (!tz) return undefined;
  try {
    new Intl.DateTimeFormat("en", {timeZone: tz});
    return tz;
  } catch {
    return undefined;
  }
}

export function fmtTime(ms, tz, lang, withSeconds = false) {
  if (!Number.isFinite(ms)) return "–";
  return new Intl.DateTimeFormat(locale(lang), {
    hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined, hour12: false, timeZone: tz,
  }).format(ms);
}

/** "2026-11-18 20:54" in the site's zone, in both languages: "11/18" reads as November or as the
 * 11th of a month depending on who reads it; an ISO date does not. */
export function fmtDateTime(ms, tz, lang) {
  if (!Number.isFinite(ms)) return "–";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZone: tz,
  }).formatToParts(ms).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

function locale(lang) {
  return lang === "zh" ? "zh-CN" : "en-GB";
}

/** "2h 05m", "4m 09s", "45s"; Chinese units for zh. Always of the absolute value. */
export function fmtDuration(ms, lang) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const u = lang === "zh" ? {d: "天", h: "小时", m: "分", s: "秒"} : {d: "d", h: "h", m: "m", s: "s"};
  const pad = (n) => String(n).padStart(2, "0");
  if (d > 0) return `${d}${u.d} ${hr}${u.h}`;
  if (hr > 0) return `${hr}${u.h} ${pad(m)}${u.m}`;
  if (m > 0) return `${m}${u.m} ${pad(sec)}${u.s}`;
  return `${sec}${u.s}`;
}

/** Time left until a ticket's due_at: {left: ms (negative when overdue), overdue} or null without one. */
export function slaLeft(dueAt, now) {
  const due = parseTs(dueAt);
  if (!Number.isFinite(due)) return null;
  return {left: due - now, overdue: due <= now};
}

/** The site-local calendar day ("YYYY-MM-DD") and hour of an instant. */
export function siteDay(ms, tz) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23", timeZone: tz,
  }).formatToParts(ms).map((p) => [p.type, p.value]));
  return {date: `${parts.year}-${parts.month}-${parts.day}`, hour: Number(parts.hour)};
}

export function addDays(date, n) {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/**
 * Night rounds cross midnight (20:00 ... 04:00), so "tonight" runs from noon to noon. A round's night
 * is read from its scheduled_start as written (site-local with offset), so no time-zone maths is needed.
 */
export function nightOf(scheduledStart) {
  const date = String(scheduledStart).slice(0, 10), hour = Number(String(scheduledStart).slice(11, 13));
  return hour >= 12 ? date : addDays(date, -1);
}

export function tonight(now, tz) {
  const {date, hour} = siteDay(now, tz);
  return hour >= 12 ? date : addDays(date, -1);
}

const FINISHED = new Set(["completed", "incomplete"]);

/** Coverage over the finished rounds (in-progress rounds would count pending checkpoints as missed). */
export function coverageSummary(rounds) {
  const finished = rounds.filter((r) => FINISHED.has(r.status));
  const expected = finished.reduce((n, r) => n + (r.expected || 0), 0);
  const visited = finished.reduce((n, r) => n + (r.visited || 0), 0);
  return {
    coverage: expected > 0 ? visited / expected : null,
    rounds: rounds.length,
    finished: finished.length,
    inProgress: rounds.filter((r) => r.status === "in_progress").length,
    missed: rounds.reduce((n, r) => n + (r.missed ? r.missed.length : 0), 0),
    late: rounds.reduce((n, r) => n + (r.late || 0), 0),
  };
}

export function pct(ratio) {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? "–" : `${Math.round(ratio * 100)}%`;
}

export function severityRank(severity) {
  const i = SEVERITIES.indexOf(severity);
  return i < 0 ? SEVERITIES.length : i;
}

export {SEVERITIES};

/** Most urgent first: severity, then the earliest deadline, then the oldest. */
export function compareTickets(a, b) {
  return severityRank(a.severity) - severityRank(b.severity)
    || (parseTs(a.due_at) || Infinity) - (parseTs(b.due_at) || Infinity)
    || (parseTs(a.opened_at) || 0) - (parseTs(b.opened_at) || 0);
}

/** A metric value for people: booleans and numbers made short, anything else as text. */
export function fmtValue(value, unit) {
  if (value === true || value === false) return value ? "✓" : "✗";
  if (typeof value === "number") {
    // Below 1, two significant digits: a dead lamp's 0.003 A must not read as 0 A.
    const text = Math.abs(value) >= 100 ? value.toFixed(0)
      : Math.abs(value) < 1 && value !== 0 ? String(Number(value.toPrecision(2)))
        : String(Math.round(value * 100) / 100);
    return unit ? `${text} ${unit}` : text;
  }
  return value === null || value === undefined ? "–" : String(value);
}

/** Values a chart can draw: numbers as they are, booleans as 1/0. */
export function chartable(value) {
  return typeof value === "number" || typeof value === "boolean";
}

/** Group items by a key function into a Map whose keys are sorted. */
export function groupBy(items, key) {
  const groups = new Map();
  for (const item of items) {
    const k = key(item);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(item);
  }
  return new Map([...groups.entries()].sort(([a], [b]) => String(a).localeCompare(String(b))));
}
