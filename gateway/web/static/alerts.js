// "Alert me": a beep (WebAudio, no sound file) and a browser notification (Notification API) when a
// new critical ticket opens, only after the person switched it on (off by default, remembered).
// Browsers let a page play sound or ask for notifications only after a click, so both are set up in
// the toggle's click handler.

import {t} from "./i18n.js";

const KEY = "sitegate.feed.alerts";
const BEEP_HZ = 880;
const BEEP_S = 0.25;
// A ticket that becomes critical: opened as critical, or raised to it.
const NEW_CRITICAL = new Set(["opened", "severity_raised", "reopened"]);

export function createAlerts(button) {
  let audio = null;
  const announced = new Set(); // ticket ids already announced: one beep per ticket

  const enabled = () => localStorage.getItem(KEY) === "1";

  function relabel() {
    button.textContent = t(enabled() ? "feed.alerts_on" : "feed.alerts_off");
    button.setAttribute("aria-pressed", String(enabled()));
  }

  button.addEventListener("click", async () => {
    localStorage.setItem(KEY, enabled() ? "0" : "1");
    relabel();
    if (!enabled()) return;
    audio = audio || makeAudio();
    const N = window.Notification;
    if (N && N.permission === "default" && typeof N.requestPermission === "function") {
      try {
        await N.requestPermission();
      } catch {
        // Refused or unsupported: the beep still works.
      }
    }
  });

  function beep() {
    audio = audio || makeAudio();
    if (!audio) return;
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = BEEP_HZ;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + BEEP_S);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + BEEP_S);
  }

  function notify(ticket) {
    const N = window.Notification;
    if (!N || N.permission !== "granted") return;
    try {
      new N(t("feed.alert_title"), {body: `${ticket.title || ticket.id}${ticket.place ? ` · ${ticket.place}` : ""}`,
        tag: `sitegate-${ticket.id}`, requireInteraction: true});
    } catch {
      // Some browsers allow notifications only from a service worker: the beep and the feed remain.
    }
  }

  /** Called with every live event; announces a new critical ticket when switched on. */
  function consider(type, data) {
    if (type !== "ticket" || !data || data.severity !== "critical" || !NEW_CRITICAL.has(data.change)) return;
    if (!enabled() || announced.has(data.id)) return;
    announced.add(data.id);
    try {
      beep();
    } catch {
      // No sound on this machine: the notification and the feed remain.
    }
    notify(data);
  }

  relabel();
  return {consider, relabel};
}

function makeAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  try {
    return Ctx ? new Ctx() : null;
  } catch {
    return null;
  }
}
