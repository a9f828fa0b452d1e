// The gateway's clock as the page sees it. SLA countdowns, "tonight" and "today" must follow the
// clock the gateway judges deadlines by, not the browser's: a wall screen's clock can be off, and
// the demo's site clock runs many times faster than real time. /api/health says the gateway's `now`;
// two readings a few seconds apart also give its speed.

const MIN_SPAN_MS = 1500; // shorter spans are too noisy (request latency) to measure a speed from
const REAL_TIME_SLACK = 0.02; // within 2 % of real time is real time: latency jitter, not a demo

let anchorSite = NaN; // the gateway's time at the last reading (ms)
let anchorLocal = 0; // the browser's Date.now() when that reading arrived
let rate = 1; // gateway milliseconds per browser millisecond

/** Fold in one reading of the gateway's clock (an ISO string with offset); ignores anything else. */
export function syncSiteClock(isoNow, localMs = Date.now()) {
  const site = typeof isoNow === "string" ? Date.parse(isoNow) : NaN;
  if (!Number.isFinite(site)) return;
  const span = localMs - anchorLocal;
  if (Number.isFinite(anchorSite) && span >= MIN_SPAN_MS) {
    const measured = (site - anchorSite) / span;
    if (measured > 0) rate = Math.abs(measured - 1) <= REAL_TIME_SLACK ? 1 : measured;
  }
  anchorSite = site;
  anchorLocal = localMs;
}

/** Now on the gateway's clock (ms); the browser's clock until the gateway has said its time. */
export function siteNow(localMs = Date.now()) {
  return Number.isFinite(anchorSite) ? anchorSite + (localMs - anchorLocal) * rate : localMs;
}

/** How fast the gateway's clock runs against the browser's (1 on a real site). */
export function siteRate() {
  return rate;
}

/** Forget what was learnt (tests). */
export function resetSiteClock() {
  anchorSite = NaN;
  anchorLocal = 0;
  rate = 1;
}
