// The cue for a new high or critical incident: a banner, and a beep unless muted (persisted).

const MUTED_KEY = "vigie.admin.muted";
const ALARM_SEVERITIES = new Set(["high", "critical"]);
const BEEP_TONES_HZ = [880, 660, 880];
const BEEP_TONE_S = 0.16;

/** Decides which incident messages deserve the cue, and gives it. */
export class Alarm {
  constructor({ banner, text, dismiss, muteButton, storage }) {
    this.banner = banner;
    this.text = text;
    this.muteButton = muteButton;
    this.storage = storage;
    this.seen = new Set();
    this.audio = null;
    this.i18n = null;
    dismiss.addEventListener("click", () => {
      this.banner.hidden = true;
    });
    muteButton.addEventListener("click", () => this.setMuted(!this.muted));
    // Browsers start audio only after a gesture: unlock it on the first click anywhere.
    document.addEventListener("pointerdown", () => this.audioContext()?.resume(), { once: true });
  }

  get muted() {
    return this.storage.getItem(MUTED_KEY) === "1";
  }

  setMuted(muted) {
    this.storage.setItem(MUTED_KEY, muted ? "1" : "0");
    this.render();
  }

  /** Relabel the controls in the current language. */
  translate(i18n) {
    this.i18n = i18n;
    this.render();
    this.banner.querySelector("#alarm-dismiss").textContent = i18n.t("alarm.dismiss");
  }

  render() {
    if (!this.i18n) return;
    this.muteButton.setAttribute("aria-pressed", String(this.muted));
    this.muteButton.textContent = this.i18n.t(this.muted ? "alarm.muted" : "alarm.sound");
    this.muteButton.title = this.i18n.t("alarm.toggle");
  }

  /** Cue the incident if it was just opened with a high or critical severity. */
  consider(incident, cameraName) {
    // An incident is news once: when first seen with opened_at == updated_at (just filed).
    if (this.seen.has(incident.id)) return;
    this.seen.add(incident.id);
    const justOpened = incident.status === "new" && incident.opened_at === incident.updated_at;
    if (!justOpened || !ALARM_SEVERITIES.has(incident.severity)) return;
    this.text.textContent = this.i18n.t(
      "alarm.text",
      this.i18n.t(`severity.${incident.severity}`),
      incident.id,
      this.i18n.threat(incident.threat_type),
      cameraName,
    );
    this.text.href = `#/incident/${incident.id}`;
    this.banner.dataset.severity = incident.severity;
    this.banner.hidden = false;
    if (!this.muted) this.beep();
  }

  /** Remember incidents already on screen, so they are not announced as new. */
  know(incidentIds) {
    for (const id of incidentIds) this.seen.add(id);
  }

  audioContext() {
    if (this.audio === null && window.AudioContext) this.audio = new AudioContext();
    return this.audio;
  }

  beep() {
    const context = this.audioContext();
    if (!context) return;
    let start = context.currentTime;
    for (const frequency of BEEP_TONES_HZ) {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = "square";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.08, start);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + BEEP_TONE_S);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(start);
      oscillator.stop(start + BEEP_TONE_S);
      start += BEEP_TONE_S + 0.04;
    }
    // How many beeps were sounded: what the tests and a curious operator can check.
    this.banner.dataset.beeps = String(Number(this.banner.dataset.beeps) + 1);
  }
}
