// Labels in English and French: the browser's language picks one, the switch overrides it (kept).

const LANGUAGE_KEY = "vigie.admin.language";
export const LANGUAGES = ["en", "fr"];

const EN = {
  "nav.live": "Live",
  "nav.history": "History",
  "nav.fleet": "Fleet",
  "nav.playbooks": "Playbooks",
  "nav.users": "Users",
  "shell.language": "Language",
  "shell.logout": "Log out",
  "shell.forbidden": "This page is for administrators.",
  "connection.connecting": "Connecting…",
  "connection.live": "Live",
  "connection.offline": "Reconnecting…",
  "role.viewer": "Viewer",
  "role.dispatcher": "Dispatcher",
  "role.admin": "Admin",
  "alarm.sound": "Sound on",
  "alarm.muted": "Muted",
  "alarm.toggle": "Sound for new high and critical incidents",
  "alarm.dismiss": "Dismiss",
  "alarm.text": (severity, id, type, camera) => `New ${severity} incident #${id}: ${type} — ${camera}`,
  "severity.low": "Low",
  "severity.medium": "Medium",
  "severity.high": "High",
  "severity.critical": "Critical",
  "status.new": "New",
  "status.acknowledged": "Acknowledged",
  "status.dispatched": "Dispatched",
  "status.resolved": "Resolved",
  "status.false_alarm": "False alarm",
  "state.online": "Online",
  "state.offline": "Offline",
  "state.unknown": "Unknown",
  "source.camera": "camera position",
  "source.homography": "ground projection",
  "threat.weapon": "Weapon",
  "threat.intrusion": "Intrusion",
  "threat.vehicle_intrusion": "Vehicle intrusion",
  "threat.abandoned_object": "Abandoned object",
  "threat.loitering": "Loitering",
  "threat.camera_offline": "Camera offline",
  "threat.agent_offline": "Agent offline",
  "threat.fire": "Fire",
  "col.severity": "Severity",
  "col.id": "#",
  "col.type": "Threat",
  "col.camera": "Camera",
  "col.agent": "Agent",
  "col.status": "Status",
  "col.state": "State",
  "col.since": "Since",
  "col.lastSeen": "Last seen",
  "col.captured": "Captured",
  "col.events": "Events",
  "col.position": "GPS position",
  "col.label": "Detection",
  "col.score": "Score",
  "col.box": "Box",
  "col.track": "Track",
  "coords.copy": "Copy",
  "coords.copied": (text) => `Copied ${text}`,
  "coords.copyFailed": "Could not copy: select the coordinates instead.",
  "coords.onMap": "Map",
  "filters.status": "Status",
  "filters.type": "Threat",
  "filters.severity": "Severity",
  "filters.camera": "Camera",
  "filters.window": "Time",
  "filters.search": "Search",
  "filters.searchHint": "Type, camera, agent…",
  "filters.any": "All",
  "filters.open": "Open",
  "window.15m": "Last 15 min",
  "window.1h": "Last hour",
  "window.6h": "Last 6 h",
  "window.24h": "Last 24 h",
  "window.7d": "Last 7 days",
  "window.all": "Any time",
  "list.count": (count) => `${count} shown`,
  "list.more": "Load older",
  "live.incidents": "Incidents",
  "live.detections": "Latest detections",
  "live.empty": "No incident matches these filters.",
  "incident.notFound": "No such incident.",
  "incident.firstSeen": "First seen",
  "incident.snapshot": "Snapshot",
  "incident.noSnapshot": "No snapshot was received for this incident.",
  "incident.healthIncident": "A health incident: no image.",
  "incident.detections": "Detections (latest event)",
  "incident.model": "Model",
  "incident.location": "Location",
  "incident.gps": "GPS",
  "incident.perimeter": "Perimeter",
  "incident.accuracy": "Accuracy",
  "incident.locationSource": "Located by",
  "incident.checklist": "Playbook actions",
  "incident.doneBy": (who) => `done by ${who}`,
  "incident.actions": "Actions",
  "incident.note": "Note (kept in the audit trail)",
  "incident.notePlaceholder": "What was done, who was sent…",
  "incident.closed": "This incident is closed.",
  "incident.audit": "Audit trail",
  "incident.saved": "Saved.",
  "action.acknowledge": "Acknowledge",
  "action.dispatch": "Dispatch",
  "action.resolve": "Resolve",
  "action.falseAlarm": "False alarm",
  "audit.opened": "opened the incident",
  "audit.transition": (from, to) => `status ${from} → ${to}`,
  "audit.ticked": (text) => `ticked “${text}”`,
  "audit.unticked": (text) => `unticked “${text}”`,
  "unit.metres": (value) => `${value} m`,
  "unit.ms": (value) => `${value} ms`,
  "fleet.agents": "Agents",
  "fleet.cameras": "Cameras",
  "fleet.agentsOnline": "Agents online",
  "fleet.camerasOnline": "Cameras online",
  "fleet.longOutages": (minutes) => `Cameras offline > ${minutes} min`,
  "fleet.longOutage": (duration) => `offline for ${duration}`,
  "fleet.lastHeartbeat": "Last heartbeat",
  "fleet.lastSeen": "Last seen",
  "fleet.version": "Version",
  "fleet.queue": "Queue",
  "fleet.uptime": "Uptime",
  "fleet.cpu": "CPU load",
  "fleet.fps": "FPS",
  "fleet.inference": "Inference",
  "fleet.empty": "Nothing registered yet.",
  "playbooks.perimeter": "Perimeter (m)",
  "playbooks.actions": "Actions, one per line, in order",
  "playbooks.save": "Save",
  "playbooks.saved": (type) => `Playbook ${type} saved.`,
  "playbooks.updated": (who) => `Last changed by ${who},`,
  "playbooks.newType": "New threat type",
  "playbooks.add": "Add playbook",
  "playbooks.firstAction": "Describe the first action",
  "users.username": "User name",
  "users.password": "Password",
  "users.role": "Role",
  "users.created": (name) => `User ${name} created.`,
  "users.create": "Create user",
  "users.createdAt": "Created",
  "users.saved": (name) => `User ${name} updated.`,
  "users.enable": "Enable",
  "users.disable": "Disable",
  "users.enabled": "Enabled",
  "users.disabled": "Disabled",
  "users.actions": "Access",
  "users.you": "you",
  "history.newer": "Newer",
  "history.older": "Older",
  "history.csv": "Export CSV",
  "history.geojson": "Export GeoJSON",
  "history.empty": "No event matches these filters.",
  "history.page": (page, count) => `Page ${page} · ${count} events`,
};

const FR = {
  "nav.live": "En direct",
  "nav.history": "Historique",
  "nav.fleet": "Parc",
  "nav.playbooks": "Consignes",
  "nav.users": "Utilisateurs",
  "shell.language": "Langue",
  "shell.logout": "Se déconnecter",
  "shell.forbidden": "Cette page est réservée aux administrateurs.",
  "connection.connecting": "Connexion…",
  "connection.live": "En direct",
  "connection.offline": "Reconnexion…",
  "role.viewer": "Observateur",
  "role.dispatcher": "Opérateur",
  "role.admin": "Administrateur",
  "alarm.sound": "Son activé",
  "alarm.muted": "Son coupé",
  "alarm.toggle": "Son pour les nouveaux incidents graves et critiques",
  "alarm.dismiss": "Fermer",
  "alarm.text": (severity, id, type, camera) => `Nouvel incident ${severity.toLowerCase()} n° ${id} : ${type} — ${camera}`,
  "severity.low": "Faible",
  "severity.medium": "Moyenne",
  "severity.high": "Élevée",
  "severity.critical": "Critique",
  "status.new": "Nouveau",
  "status.acknowledged": "Pris en compte",
  "status.dispatched": "Équipe envoyée",
  "status.resolved": "Résolu",
  "status.false_alarm": "Fausse alerte",
  "state.online": "En ligne",
  "state.offline": "Hors ligne",
  "state.unknown": "Inconnu",
  "source.camera": "position de la caméra",
  "source.homography": "projection au sol",
  "threat.weapon": "Arme",
  "threat.intrusion": "Intrusion",
  "threat.vehicle_intrusion": "Intrusion de véhicule",
  "threat.abandoned_object": "Objet abandonné",
  "threat.loitering": "Rôdeur",
  "threat.camera_offline": "Caméra hors ligne",
  "threat.agent_offline": "Agent hors ligne",
  "threat.fire": "Incendie",
  "col.severity": "Gravité",
  "col.id": "N°",
  "col.type": "Menace",
  "col.camera": "Caméra",
  "col.agent": "Agent",
  "col.status": "Statut",
  "col.state": "État",
  "col.since": "Depuis",
  "col.lastSeen": "Vu en dernier",
  "col.captured": "Capturé",
  "col.events": "Événements",
  "col.position": "Position GPS",
  "col.label": "Détection",
  "col.score": "Score",
  "col.box": "Cadre",
  "col.track": "Piste",
  "coords.copy": "Copier",
  "coords.copied": (text) => `${text} copié`,
  "coords.copyFailed": "Copie impossible : sélectionnez les coordonnées.",
  "coords.onMap": "Carte",
  "filters.status": "Statut",
  "filters.type": "Menace",
  "filters.severity": "Gravité",
  "filters.camera": "Caméra",
  "filters.window": "Période",
  "filters.search": "Recherche",
  "filters.searchHint": "Type, caméra, agent…",
  "filters.any": "Tous",
  "filters.open": "Ouverts",
  "window.15m": "15 dernières min",
  "window.1h": "Dernière heure",
  "window.6h": "6 dernières h",
  "window.24h": "24 dernières h",
  "window.7d": "7 derniers jours",
  "window.all": "Toute période",
  "list.count": (count) => `${count} affiché(s)`,
  "list.more": "Charger les plus anciens",
  "live.incidents": "Incidents",
  "live.detections": "Dernières détections",
  "live.empty": "Aucun incident ne correspond à ces filtres.",
  "incident.notFound": "Incident introuvable.",
  "incident.firstSeen": "Vu en premier",
  "incident.snapshot": "Image",
  "incident.noSnapshot": "Aucune image reçue pour cet incident.",
  "incident.healthIncident": "Incident d'état du parc : pas d'image.",
  "incident.detections": "Détections (dernier événement)",
  "incident.model": "Modèle",
  "incident.location": "Localisation",
  "incident.gps": "GPS",
  "incident.perimeter": "Périmètre",
  "incident.accuracy": "Précision",
  "incident.locationSource": "Localisé par",
  "incident.checklist": "Actions de la consigne",
  "incident.doneBy": (who) => `fait par ${who}`,
  "incident.actions": "Actions",
  "incident.note": "Note (conservée dans le journal)",
  "incident.notePlaceholder": "Ce qui a été fait, qui a été envoyé…",
  "incident.closed": "Cet incident est clos.",
  "incident.audit": "Journal",
  "incident.saved": "Enregistré.",
  "action.acknowledge": "Prendre en compte",
  "action.dispatch": "Envoyer une équipe",
  "action.resolve": "Résoudre",
  "action.falseAlarm": "Fausse alerte",
  "audit.opened": "a ouvert l'incident",
  "audit.transition": (from, to) => `statut ${from} → ${to}`,
  "audit.ticked": (text) => `a coché « ${text} »`,
  "audit.unticked": (text) => `a décoché « ${text} »`,
  "unit.metres": (value) => `${value} m`,
  "unit.ms": (value) => `${value} ms`,
  "fleet.agents": "Agents",
  "fleet.cameras": "Caméras",
  "fleet.agentsOnline": "Agents en ligne",
  "fleet.camerasOnline": "Caméras en ligne",
  "fleet.longOutages": (minutes) => `Caméras hors ligne > ${minutes} min`,
  "fleet.longOutage": (duration) => `hors ligne depuis ${duration}`,
  "fleet.lastHeartbeat": "Dernier signal",
  "fleet.lastSeen": "Vue en dernier",
  "fleet.version": "Version",
  "fleet.queue": "File",
  "fleet.uptime": "En service depuis",
  "fleet.cpu": "Charge CPU",
  "fleet.fps": "Img/s",
  "fleet.inference": "Inférence",
  "fleet.empty": "Rien d'enregistré pour l'instant.",
  "playbooks.perimeter": "Périmètre (m)",
  "playbooks.actions": "Actions, une par ligne, dans l'ordre",
  "playbooks.save": "Enregistrer",
  "playbooks.saved": (type) => `Consigne ${type} enregistrée.`,
  "playbooks.updated": (who) => `Modifiée en dernier par ${who},`,
  "playbooks.newType": "Nouveau type de menace",
  "playbooks.add": "Ajouter une consigne",
  "playbooks.firstAction": "Décrire la première action",
  "users.username": "Nom d'utilisateur",
  "users.password": "Mot de passe",
  "users.role": "Rôle",
  "users.created": (name) => `Utilisateur ${name} créé.`,
  "users.create": "Créer l'utilisateur",
  "users.createdAt": "Créé le",
  "users.saved": (name) => `Utilisateur ${name} modifié.`,
  "users.enable": "Activer",
  "users.disable": "Désactiver",
  "users.enabled": "Actif",
  "users.disabled": "Désactivé",
  "users.actions": "Accès",
  "users.you": "vous",
  "history.newer": "Plus récents",
  "history.older": "Plus anciens",
  "history.csv": "Exporter en CSV",
  "history.geojson": "Exporter en GeoJSON",
  "history.empty": "Aucun événement ne correspond à ces filtres.",
  "history.page": (page, count) => `Page ${page} · ${count} événements`,
};

const LABELS = { en: EN, fr: FR };

/** The saved choice, else the first of the browser's languages the panel speaks, else English. */
export function pickLanguage(storage) {
  const saved = storage.getItem(LANGUAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    const base = String(tag ?? "").toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

/** Remember the language switch's choice. */
export function saveLanguage(storage, language) {
  if (LANGUAGES.includes(language)) storage.setItem(LANGUAGE_KEY, language);
}

/** Labels, dates and durations in one language. */
export class Translator {
  constructor(language) {
    this.language = LANGUAGES.includes(language) ? language : "en";
    this.labels = LABELS[this.language];
    this.dates = new Intl.DateTimeFormat(this.language, { dateStyle: "short", timeStyle: "medium" });
    this.relative = new Intl.RelativeTimeFormat(this.language, { numeric: "auto", style: "short" });
  }

  /** The label `key`, filled with `args` when it takes some; the key itself when unknown. */
  t(key, ...args) {
    const label = this.labels[key] ?? EN[key];
    if (label === undefined) return key;
    return typeof label === "function" ? label(...args) : label;
  }

  /** A threat type's name (the type itself when it has no translation). */
  threat(type) {
    const label = this.labels[`threat.${type}`];
    return typeof label === "string" ? label : type;
  }

  /** An ISO instant as local date and time. */
  dateTime(iso) {
    return this.dates.format(new Date(iso));
  }

  /** How long ago an ISO instant was ("12 s ago", "il y a 12 s"). */
  ago(iso, now = Date.now()) {
    const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
    if (Math.abs(seconds) < 60) return this.relative.format(seconds, "second");
    if (Math.abs(seconds) < 3600) return this.relative.format(Math.round(seconds / 60), "minute");
    if (Math.abs(seconds) < 86400) return this.relative.format(Math.round(seconds / 3600), "hour");
    return this.relative.format(Math.round(seconds / 86400), "day");
  }

  /** A duration in seconds as "3 h 05 min", "42 s". */
  duration(seconds) {
    const total = Math.max(0, Math.round(seconds));
    const days = Math.floor(total / 86400);
    const hours = Math.floor((total % 86400) / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    if (days) return `${days} ${this.language === "fr" ? "j" : "d"} ${hours} h`;
    if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
    if (minutes) return `${minutes} min`;
    return `${total} s`;
  }
}
