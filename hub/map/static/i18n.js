// Vigie live map: the page's words in English and French, picked from navigator.language or a switch.

const LANGUAGE_KEY = "vigie.map.language";
const DICTIONARIES = Object.freeze({
  en: Object.freeze({
    "app.title": "Vigie — live threat map",
    "connection.connecting": "Connecting…",
    "connection.live": "Live",
    "connection.reconnecting": "Reconnecting…",
    "controls.window": "Time window",
    "controls.window.15m": "Last 15 min",
    "controls.window.1h": "Last hour",
    "controls.window.24h": "Last 24 h",
    "controls.window.custom": "Custom…",
    "controls.from": "From",
    "controls.to": "To",
    "controls.apply": "Apply",
    "controls.severity": "Severity",
    "controls.status": "Status",
    "controls.types": "Threat types",
    "controls.follow": "Follow newest",
    "controls.shown": "{shown} of {total} events shown",
    "controls.cameras": "{online} of {total} cameras online",
    "severity.low": "low",
    "severity.medium": "medium",
    "severity.high": "high",
    "severity.critical": "critical",
    "status.new": "new",
    "status.acknowledged": "acknowledged",
    "status.dispatched": "dispatched",
    "status.resolved": "resolved",
    "status.false_alarm": "false alarm",
    "popup.camera": "Camera",
    "popup.captured": "Captured",
    "popup.gps": "GPS",
    "popup.accuracy": "Accuracy",
    "popup.perimeter": "Perimeter",
    "popup.incident": "Incident",
    "popup.no_incident": "not filed yet",
    "popup.admin_link": "Open the incident",
    "popup.actions": "Playbook actions",
    "popup.loading": "Loading…",
    "popup.load_failed": "Cannot load the incident",
    "popup.snapshot": "Snapshot of the event",
    "popup.agent": "agent {agent}",
    "action.acknowledged": "Acknowledge",
    "action.dispatched": "Dispatch",
    "action.resolved": "Resolve",
    "action.false_alarm": "False alarm",
    "action.failed": "Refused: {detail}",
    "camera.state.online": "online",
    "camera.state.offline": "offline",
    "camera.state.unknown": "state unknown",
    "camera.fov": "Heading {heading}°, field of view {fov}°, range {range} m",
    "language.switch": "Français",
  }),
  fr: Object.freeze({
    "app.title": "Vigie — carte des menaces en direct",
    "connection.connecting": "Connexion…",
    "connection.live": "En direct",
    "connection.reconnecting": "Reconnexion…",
    "controls.window": "Période",
    "controls.window.15m": "15 dernières min",
    "controls.window.1h": "Dernière heure",
    "controls.window.24h": "Dernières 24 h",
    "controls.window.custom": "Personnalisée…",
    "controls.from": "Du",
    "controls.to": "Au",
    "controls.apply": "Appliquer",
    "controls.severity": "Gravité",
    "controls.status": "Statut",
    "controls.types": "Types de menace",
    "controls.follow": "Suivre le plus récent",
    "controls.shown": "{shown} événements affichés sur {total}",
    "controls.cameras": "{online} caméras en ligne sur {total}",
    "severity.low": "faible",
    "severity.medium": "moyenne",
    "severity.high": "élevée",
    "severity.critical": "critique",
    "status.new": "nouveau",
    "status.acknowledged": "pris en compte",
    "status.dispatched": "équipe envoyée",
    "status.resolved": "résolu",
    "status.false_alarm": "fausse alerte",
    "popup.camera": "Caméra",
    "popup.captured": "Capturé",
    "popup.gps": "GPS",
    "popup.accuracy": "Précision",
    "popup.perimeter": "Périmètre",
    "popup.incident": "Incident",
    "popup.no_incident": "pas encore enregistré",
    "popup.admin_link": "Ouvrir l'incident",
    "popup.actions": "Actions du protocole",
    "popup.loading": "Chargement…",
    "popup.load_failed": "Impossible de charger l'incident",
    "popup.snapshot": "Image de l'événement",
    "popup.agent": "agent {agent}",
    "action.acknowledged": "Prendre en compte",
    "action.dispatched": "Envoyer une équipe",
    "action.resolved": "Résoudre",
    "action.false_alarm": "Fausse alerte",
    "action.failed": "Refusé : {detail}",
    "camera.state.online": "en ligne",
    "camera.state.offline": "hors ligne",
    "camera.state.unknown": "état inconnu",
    "camera.fov": "Cap {heading}°, champ {fov}°, portée {range} m",
    "language.switch": "English",
  }),
});
export const LANGUAGES = Object.freeze(Object.keys(DICTIONARIES));

/** The language to start in: the one chosen before, else the browser's, else English. */
export function initialLanguage(storage, browserLanguages) {
  const saved = storage?.getItem(LANGUAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of browserLanguages ?? []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

/** A translator: t(key, values) in the current language; set() switches and remembers it. */
export function createTranslator(language, storage) {
  let current = language;
  const listeners = [];
  const t = (key, values = {}) => {
    const text = DICTIONARIES[current][key] ?? DICTIONARIES.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  };
  return Object.freeze({
    t,
    get language() {
      return current;
    },
    set(next) {
      if (!LANGUAGES.includes(next) || next === current) return;
      current = next;
      storage?.setItem(LANGUAGE_KEY, next);
      listeners.forEach((listener) => listener(next));
    },
    onChange(listener) {
      listeners.push(listener);
    },
  });
}
