// Vigie live map: stored threat events and their incidents, cameras and their fields of view,
// then everything new live over a WebSocket. Strings from events are rendered as text only.

import { fieldOfView } from "./geo.js";
import { createTranslator, initialLanguage } from "./i18n.js";

// A small first page draws something soon; then pages as large as the hub serves.
const FIRST_FEED_PAGE = 1000;
const FEED_PAGE = 5000;
const MAX_EVENTS = 20000;
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 15000;
const STABLE_CONNECTION_MS = 10000;
const LINK_DELAY_MS = 250;
const CAMERA_REFRESH_MS = 30000;
const WINDOW_TICK_MS = 30000;
const TOP_DETECTIONS = 3;
const FIT_MAX_ZOOM = 17;
const FOCUS_ZOOM = 17;
// Set on the map itself: with no tile layer Leaflet has no zoom limit, which clustering needs.
const MAX_ZOOM = 19;
const MINUTE_MS = 60 * 1000;
const WINDOWS_MS = Object.freeze({ "15m": 15 * MINUTE_MS, "1h": 60 * MINUTE_MS, "24h": 1440 * MINUTE_MS });
const DEFAULT_WINDOW = "24h";
const SEVERITIES = Object.freeze(["low", "medium", "high", "critical"]);
const SEVERITY_COLORS = Object.freeze({
  low: "#2563eb",
  medium: "#d97706",
  high: "#dc2626",
  critical: "#7c3aed",
});
const STATUSES = Object.freeze(["new", "acknowledged", "dispatched", "resolved", "false_alarm"]);
const CLOSED_STATUSES = Object.freeze(["resolved", "false_alarm"]);
// The incident lifecycle the hub enforces; the buttons offer only what it will accept.
const TRANSITIONS = Object.freeze({
  new: ["acknowledged", "resolved", "false_alarm"],
  acknowledged: ["dispatched", "resolved", "false_alarm"],
  dispatched: ["resolved", "false_alarm"],
  resolved: [],
  false_alarm: [],
});
const HEALTH_THREATS = Object.freeze(["camera_offline", "agent_offline"]);
const CAMERA_COLORS = Object.freeze({ online: "#0f766e", offline: "#6b7280", unknown: "#64748b" });
// Stroke-only glyphs (24×24) drawn white on the severity-coloured dot, one per threat type.
const THREAT_GLYPHS = Object.freeze({
  weapon: "M12 3v5M12 16v5M3 12h5M16 12h5M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8",
  intrusion: "M12 4a3 3 0 1 0 0 6a3 3 0 1 0 0-6M6 20v-2a6 6 0 0 1 12 0v2",
  vehicle_intrusion: "M4 16l2-6h12l2 6v3H4zM7 19v2M17 19v2M4 16h16",
  abandoned_object: "M5 9h14v11H5zM9 9V5h6v4",
  loitering: "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 7v5l3 3",
  fire: "M12 3c3 4 6 6 6 11a6 6 0 0 1-12 0c0-3 2-5 3-7c1 2 2 3 3 3c-1-3 0-5 0-7",
});
const GENERIC_GLYPH = "M12 5v9M12 18v1";
const CAMERA_GLYPH = "M4 8h11v8H4zM15 11l5-3v8l-5-3";
// The hub closes the stream with this code (RFC 6455 policy violation) when the session is gone.
const CLOSE_POLICY_VIOLATION = 1008;
const LOGIN_PAGE = "../login";
const CSRF_COOKIE = "vigie_csrf";
const CSRF_HEADER = "X-CSRF-Token";
const DISPATCHER_ROLES = Object.freeze(["dispatcher", "admin"]);

/** A new element with an optional class and text content (set as text, so it stays inert). */
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

/** The display colour of a severity (grey for one this page does not know). */
function severityColor(severity) {
  return Object.hasOwn(SEVERITY_COLORS, severity) ? SEVERITY_COLORS[severity] : "#6b7280";
}

/** Whether a stored event carries what the map needs to draw and replay it. */
function isDrawable(event) {
  const location = event?.location;
  return (
    typeof event?.event_id === "string" &&
    Number.isInteger(event.id) &&
    Number.isFinite(location?.lat) &&
    Number.isFinite(location?.lon) &&
    Number.isFinite(event.perimeter_m) &&
    event.perimeter_m > 0 &&
    SEVERITIES.includes(event.severity)
  );
}

/** The value of a cookie of this page, or "" when it has none. */
function cookie(name) {
  const prefix = `${name}=`;
  const found = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

/** Raised when the hub answers 401: the session expired or was ended. */
class SignedOut extends Error {}

/** Sends the browser to the login page, which brings it back here after signing in. */
function goToLogin() {
  const login = new URL(LOGIN_PAGE, window.location.href);
  login.searchParams.set("next", window.location.pathname + window.location.search);
  window.location.assign(login.href);
}

/** GET a JSON document of the hub; SignedOut on 401, Error on any other failure. */
async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (response.status === 401) throw new SignedOut(`GET ${path} answered HTTP 401`);
  if (!response.ok) throw new Error(`GET ${path} answered HTTP ${response.status}`);
  return response.json();
}

/** An SVG glyph as markup: built from this file's constants only, never from event text. */
function glyphMarkup(path) {
  return `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${path}"/></svg>`;
}

/** The (cached) marker icon of a threat type, severity, incident status and freshness. */
function createIconCache() {
  const icons = new Map();
  return (threatType, severity, status, fresh) => {
    const glyph = Object.hasOwn(THREAT_GLYPHS, threatType) ? threatType : "generic";
    const key = `${glyph}|${severity}|${status}|${fresh}`;
    if (!icons.has(key)) {
      const classes = ["vigie-marker", `vigie-sev-${severity}`, `vigie-status-${status}`];
      if (CLOSED_STATUSES.includes(status)) classes.push("vigie-marker-closed");
      if (fresh) classes.push("vigie-marker-fresh");
      const path = THREAT_GLYPHS[glyph] ?? GENERIC_GLYPH;
      icons.set(
        key,
        L.divIcon({
          html: `<div class="vigie-marker-dot">${glyphMarkup(path)}</div>`,
          className: classes.join(" "),
          iconSize: [24, 24],
          popupAnchor: [0, -10],
        }),
      );
    }
    return icons.get(key);
  };
}

/** The cluster badge: the number of events, coloured by the worst open severity among them. */
function clusterIcon(cluster) {
  // One pass: every visible cluster is redrawn after each bulk add of thousands of markers.
  let worstOpen = -1;
  let worstAny = -1;
  for (const marker of cluster.getAllChildMarkers()) {
    const rank = SEVERITIES.indexOf(marker.options.severity);
    if (rank > worstAny) worstAny = rank;
    if (rank > worstOpen && !CLOSED_STATUSES.includes(marker.options.status)) worstOpen = rank;
  }
  const worst = SEVERITIES[worstOpen >= 0 ? worstOpen : worstAny];
  const closed = worstOpen < 0 ? " vigie-cluster-closed" : "";
  return L.divIcon({
    html: `<div class="vigie-cluster-badge">${cluster.getChildCount()}</div>`,
    className: `vigie-cluster vigie-sev-${worst}${closed}`,
    iconSize: [38, 38],
  });
}

/** Perimeter style by severity and incident status: closed incidents fade to a dashed outline. */
function perimeterStyle(severity, status) {
  const color = severityColor(severity);
  if (CLOSED_STATUSES.includes(status)) {
    return { color, fillColor: color, opacity: 0.35, fillOpacity: 0.03, weight: 1, dashArray: "4 6" };
  }
  const weight = severity === "critical" ? 3 : 2;
  const fillOpacity = { low: 0.08, medium: 0.11, high: 0.14, critical: 0.18 }[severity];
  return { color, fillColor: color, opacity: 0.9, fillOpacity, weight, dashArray: null };
}

/** The filters the dispatcher set; `matches` says whether an event passes them. */
function createFilters() {
  const state = {
    window: DEFAULT_WINDOW,
    custom: { from: null, to: null },
    hiddenSeverities: new Set(),
    hiddenStatuses: new Set(),
    hiddenTypes: new Set(),
    follow: false,
  };
  const bounds = (now) => {
    if (state.window === "custom") return state.custom;
    return { from: new Date(now - WINDOWS_MS[state.window]), to: null };
  };
  const matches = (event, status, now) => {
    const { from, to } = bounds(now);
    const captured = Date.parse(event.captured_at);
    return (
      !(from && captured < from.getTime()) &&
      !(to && captured >= to.getTime()) &&
      !state.hiddenSeverities.has(event.severity) &&
      !state.hiddenStatuses.has(status) &&
      !state.hiddenTypes.has(event.threat_type)
    );
  };
  return { state, bounds, matches };
}

/** The events and incidents on the map: dedupe by event_id, style by status, filter, follow. */
function createEventLayers(map, filters, onChange) {
  const byEventId = new Map();
  const eventsByIncident = new Map();
  const incidents = new Map();
  const iconFor = createIconCache();
  const renderer = L.canvas({ padding: 0.5 });
  // Chunked loading spreads a bulk add over several tasks: count the adds still running.
  let adding = 0;
  const whenPlaced = [];
  const clusters = L.markerClusterGroup({
    maxClusterRadius: 45,
    showCoverageOnHover: false,
    chunkedLoading: true,
    chunkProgress: (processed, total) => {
      // total 0: the group's own empty add as it joins the map, not one of ours.
      if (total === 0 || processed < total) return;
      adding -= 1;
      if (adding === 0) whenPlaced.splice(0).forEach((resolve) => resolve());
    },
    iconCreateFunction: clusterIcon,
  }).addTo(map);
  const perimeters = L.featureGroup().addTo(map);
  let fitted = false;

  const statusOf = (entry) => incidents.get(entry.incidentId)?.status ?? "new";

  const restyle = (entry) => {
    const status = statusOf(entry);
    const { event } = entry;
    entry.marker.options.status = status;
    entry.marker.setIcon(iconFor(event.threat_type, event.severity, status, entry.fresh));
    entry.perimeter.setStyle(perimeterStyle(event.severity, status));
  };

  const link = (entry, incidentId) => {
    if (!Number.isInteger(incidentId) || entry.incidentId === incidentId) return;
    entry.incidentId = incidentId;
    if (!eventsByIncident.has(incidentId)) eventsByIncident.set(incidentId, new Set());
    eventsByIncident.get(incidentId).add(entry.event.event_id);
  };

  /** Keep the newest known state of an incident; restyle its events when the status changed. */
  const noteIncident = (incident) => {
    if (!Number.isInteger(incident?.id) || !STATUSES.includes(incident.status)) return;
    const known = incidents.get(incident.id);
    if (known && Date.parse(known.updated_at) > Date.parse(incident.updated_at)) return;
    incidents.set(incident.id, { ...known, ...incident });
    if (known?.status === incident.status) return;
    // Events being built are linked before they are stored: they get their style as they are made.
    const entries = [...(eventsByIncident.get(incident.id) ?? [])]
      .map((id) => byEventId.get(id))
      .filter(Boolean);
    entries.forEach(restyle);
    applyFilters(entries);
  };

  const build = (event, fresh) => {
    const center = L.latLng(event.location.lat, event.location.lon);
    const entry = { event, fresh, incidentId: null, shown: false };
    if (event.incident) {
      link(entry, event.incident.id);
      noteIncident(event.incident);
    }
    const status = statusOf(entry);
    entry.marker = L.marker(center, {
      icon: iconFor(event.threat_type, event.severity, status, fresh),
      title: `${event.threat_type} — ${event.camera_id}`,
      alt: `${event.severity} ${event.threat_type}`,
      riseOnHover: true,
      severity: event.severity,
      status,
      eventId: event.event_id,
    });
    entry.perimeter = L.circle(center, {
      renderer,
      radius: event.perimeter_m,
      eventId: event.event_id,
      ...perimeterStyle(event.severity, status),
    });
    return entry;
  };

  /** Show the entries passing the filters and hide the others, in bulk. */
  const applyFilters = (entries = byEventId.values()) => {
    const now = Date.now();
    const show = [];
    const hide = [];
    for (const entry of entries) {
      const visible = filters.matches(entry.event, statusOf(entry), now);
      if (visible === entry.shown) continue;
      entry.shown = visible;
      (visible ? show : hide).push(entry);
    }
    if (hide.length) {
      clusters.removeLayers(hide.map((entry) => entry.marker));
      hide.forEach((entry) => perimeters.removeLayer(entry.perimeter));
    }
    if (show.length) {
      adding += 1;
      clusters.addLayers(show.map((entry) => entry.marker));
      show.forEach((entry) => perimeters.addLayer(entry.perimeter));
    }
    if (show.length || hide.length) onChange();
  };

  const fitTo = (events) => {
    const bounds = L.latLngBounds([]);
    for (const event of events) {
      bounds.extend(L.latLng(event.location.lat, event.location.lon).toBounds(event.perimeter_m * 2));
    }
    // Fitting before drawing lets clustering draw once at the final zoom.
    map.fitBounds(bounds, { padding: [40, 40], maxZoom: FIT_MAX_ZOOM, animate: false });
  };

  /** Add events not on the map yet; fresh ones pulse, and are followed when asked. */
  const add = (events, fresh) => {
    const unseen = events.filter((event) => !byEventId.has(event.event_id));
    if (!unseen.length) return [];
    if (!fitted) {
      fitted = true;
      const visible = unseen.filter((event) => filters.matches(event, "new", Date.now()));
      if (visible.length) fitTo(visible);
    }
    const entries = unseen.map((event) => build(event, fresh));
    entries.forEach((entry) => byEventId.set(entry.event.event_id, entry));
    applyFilters(entries);
    if (fresh && filters.state.follow) {
      const newest = entries.filter((entry) => entry.shown).at(-1);
      if (newest) clusters.zoomToShowLayer(newest.marker, () => {});
    }
    return entries;
  };

  /** Attach incidents to events already drawn (feed rows carry the incident of each event). */
  const attach = (rows) => {
    for (const row of rows) {
      const entry = byEventId.get(row.event_id);
      if (!entry || !row.incident) continue;
      const before = statusOf(entry);
      link(entry, row.incident.id);
      noteIncident(row.incident);
      if (statusOf(entry) !== before) {
        restyle(entry);
        applyFilters([entry]);
      }
    }
  };

  const view = Object.freeze({
    get: (eventId) => byEventId.get(eventId),
    has: (eventId) => byEventId.has(eventId),
    keys: () => [...byEventId.keys()],
    get size() {
      return byEventId.size;
    },
  });
  return {
    add,
    attach,
    applyFilters,
    noteIncident,
    fitted: () => fitted,
    /** Resolves once every marker added so far sits in its cluster. */
    placed: () => (adding === 0 ? Promise.resolve() : new Promise((resolve) => whenPlaced.push(resolve))),
    markFitted: () => {
      fitted = true;
    },
    unlinked: () => [...byEventId.values()].filter((entry) => entry.incidentId === null),
    incidentOf: (entry) => incidents.get(entry.incidentId) ?? null,
    entries: () => byEventId.values(),
    byEventId: view,
    incidents,
    clusters,
    perimeters,
  };
}

/** A map control showing the feed's state; returns a function that updates it. */
function addConnectionIndicator(map, i18n) {
  const indicator = element("div", "vigie-connection");
  indicator.setAttribute("role", "status");
  const control = L.control({ position: "topright" });
  control.onAdd = () => indicator;
  control.addTo(map);
  const show = (state) => {
    indicator.dataset.state = state;
    indicator.textContent = i18n.t(`connection.${state}`);
  };
  i18n.onChange(() => show(indicator.dataset.state));
  return show;
}

/** One labelled checkbox. */
function checkbox(className, value, checked, label) {
  const wrapper = element("label", className);
  const input = element("input");
  input.type = "checkbox";
  input.value = value;
  input.checked = checked;
  wrapper.append(input, element("span", null, label));
  return { wrapper, input };
}

/** The control panel: time window, severity/status/type filters, follow newest, language. */
function addControls(map, i18n, filters, actions) {
  const panel = element("form", "vigie-panel");
  panel.setAttribute("aria-label", "Map filters");
  panel.addEventListener("submit", (submitted) => submitted.preventDefault());
  const control = L.control({ position: "topleft" });
  control.onAdd = () => panel;
  control.addTo(map);
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  const knownTypes = new Set();
  const counts = { shown: 0, total: 0, online: 0, cameras: 0 };
  const state = filters.state;

  const render = () => {
    panel.replaceChildren();
    const header = element("div", "vigie-panel-header");
    const title = element("strong", "vigie-panel-title", "Vigie");
    const language = element("button", "vigie-language", i18n.t("language.switch"));
    language.type = "button";
    language.addEventListener("click", () => i18n.set(i18n.language === "fr" ? "en" : "fr"));
    header.append(title, language);
    panel.append(header);

    const windowField = element("label", "vigie-field");
    const select = element("select", "vigie-window");
    for (const choice of [...Object.keys(WINDOWS_MS), "custom"]) {
      const option = element("option", null, i18n.t(`controls.window.${choice}`));
      option.value = choice;
      option.selected = state.window === choice;
      select.append(option);
    }
    windowField.append(element("span", "vigie-field-label", i18n.t("controls.window")), select);
    panel.append(windowField);
    const custom = element("div", "vigie-custom");
    custom.hidden = state.window !== "custom";
    const dateInput = (label, className, value) => {
      const field = element("label", "vigie-field");
      const input = element("input", className);
      input.type = "datetime-local";
      if (value) input.value = localInputValue(value);
      field.append(element("span", "vigie-field-label", label), input);
      custom.append(field);
      return input;
    };
    const from = dateInput(i18n.t("controls.from"), "vigie-from", state.custom.from);
    const to = dateInput(i18n.t("controls.to"), "vigie-to", state.custom.to);
    const apply = element("button", "vigie-apply", i18n.t("controls.apply"));
    apply.type = "submit";
    custom.append(apply);
    panel.append(custom);
    select.addEventListener("change", () => {
      custom.hidden = select.value !== "custom";
      if (select.value !== "custom") actions.setWindow(select.value, null);
    });
    apply.addEventListener("click", () => {
      const range = { from: parseLocal(from.value), to: parseLocal(to.value) };
      actions.setWindow("custom", range);
    });

    const group = (titleKey, className, values, hidden, labelOf) => {
      const fieldset = element("fieldset", className);
      fieldset.append(element("legend", null, i18n.t(titleKey)));
      for (const value of values) {
        const box = checkbox(`vigie-chip vigie-chip-${value}`, value, !hidden.has(value), labelOf(value));
        box.input.addEventListener("change", () => {
          if (box.input.checked) hidden.delete(value);
          else hidden.add(value);
          actions.refilter();
        });
        fieldset.append(box.wrapper);
      }
      panel.append(fieldset);
    };
    group("controls.severity", "vigie-severities", SEVERITIES, state.hiddenSeverities, (s) =>
      i18n.t(`severity.${s}`),
    );
    group("controls.status", "vigie-statuses", STATUSES, state.hiddenStatuses, (s) =>
      i18n.t(`status.${s}`),
    );
    group("controls.types", "vigie-types", [...knownTypes].sort(), state.hiddenTypes, (s) => s);

    const follow = checkbox("vigie-follow", "follow", state.follow, i18n.t("controls.follow"));
    follow.input.addEventListener("change", () => {
      state.follow = follow.input.checked;
    });
    panel.append(follow.wrapper);
    panel.append(element("div", "vigie-count", i18n.t("controls.shown", counts)));
    panel.append(
      element("div", "vigie-camera-count", i18n.t("controls.cameras", { online: counts.online, total: counts.cameras })),
    );
  };
  i18n.onChange(render);
  render();
  return {
    noteTypes(types) {
      const before = knownTypes.size;
      types.forEach((type) => knownTypes.add(type));
      if (knownTypes.size !== before) render();
    },
    setCounts(next) {
      Object.assign(counts, next);
      const count = panel.querySelector(".vigie-count");
      if (count) count.textContent = i18n.t("controls.shown", counts);
      const cameras = panel.querySelector(".vigie-camera-count");
      if (cameras) cameras.textContent = i18n.t("controls.cameras", { online: counts.online, total: counts.cameras });
    },
  };
}

/** A Date as a datetime-local input value (local wall-clock time). */
function localInputValue(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * MINUTE_MS);
  return shifted.toISOString().slice(0, 16);
}

/** A datetime-local input value as a Date, or null when empty or invalid. */
function parseLocal(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The capture time as a <time> element: local wall-clock text, exact ISO instant attribute. */
function captureTime(capturedAt, language) {
  const instant = new Date(capturedAt);
  if (Number.isNaN(instant.getTime())) return element("time", null, capturedAt);
  const node = element("time", null, instant.toLocaleString(language, { timeZoneName: "short" }));
  node.dateTime = instant.toISOString();
  return node;
}

/** The highest-scoring detections, best first. */
function topDetections(detections) {
  const valid = Array.isArray(detections) ? detections.filter((d) => Number.isFinite(d?.score)) : [];
  return valid.sort((a, b) => b.score - a.score).slice(0, TOP_DETECTIONS);
}

/** The popup of one event: facts, snapshot, incident status, playbook actions, dispatcher buttons. */
function buildPopup(entry, context) {
  const { event } = entry;
  const { i18n } = context;
  const t = i18n.t;
  const incident = context.events.incidentOf(entry);
  const status = incident?.status ?? "new";
  const root = element("div", "vigie-popup");
  const title = element("h3", "vigie-popup-title");
  const badge = element("span", `vigie-popup-severity vigie-sev-${event.severity}`, t(`severity.${event.severity}`));
  title.append(badge, element("span", "vigie-popup-threat", event.threat_type));
  if (entry.incidentId !== null) {
    title.append(element("span", `vigie-popup-status vigie-status-${status}`, t(`status.${status}`)));
  }
  root.append(title);

  if (event.snapshot) {
    const image = element("img", "vigie-popup-snapshot");
    image.alt = t("popup.snapshot");
    image.loading = "lazy";
    image.src = `../api/events/${encodeURIComponent(event.event_id)}/snapshot`;
    image.addEventListener("error", () => image.remove());
    root.append(image);
  }

  const facts = element("dl");
  const fact = (label, ...values) => {
    const value = element("dd");
    value.append(...values);
    facts.append(element("dt", null, label), value);
  };
  const { lat, lon, accuracy_m: accuracy, source } = event.location;
  fact(
    t("popup.camera"),
    element("span", "vigie-popup-camera", event.camera_id),
    ` (${t("popup.agent", { agent: event.agent_id })})`,
  );
  fact(t("popup.captured"), captureTime(event.captured_at, i18n.language));
  fact(t("popup.gps"), element("span", "vigie-popup-gps", `${lat.toFixed(6)}, ${lon.toFixed(6)}`));
  fact(t("popup.accuracy"), `±${Math.round(accuracy)} m (${source})`);
  fact(t("popup.perimeter"), `${Math.round(event.perimeter_m)} m`);
  if (entry.incidentId !== null) {
    const link = element("a", "vigie-popup-admin", t("popup.admin_link"));
    link.href = `../admin/#/incidents/${entry.incidentId}`;
    fact(t("popup.incident"), `#${entry.incidentId} `, link);
  } else {
    fact(t("popup.incident"), t("popup.no_incident"));
  }
  root.append(facts);

  const list = element("ol", "vigie-popup-detections");
  for (const detection of topDetections(event.detections)) {
    const item = element("li");
    item.append(element("span", "vigie-popup-label", detection.label), ` ${Math.round(detection.score * 100)}%`);
    list.append(item);
  }
  root.append(list);
  if (entry.incidentId !== null) root.append(incidentSection(entry, status, context));
  return root;
}

/** The playbook actions (loaded on open) and, for dispatchers, the lifecycle buttons. */
function incidentSection(entry, status, context) {
  const { t } = context.i18n;
  const section = element("section", "vigie-popup-incident");
  section.append(element("h4", null, t("popup.actions")));
  const checklist = element("ol", "vigie-popup-checklist", t("popup.loading"));
  section.append(checklist);
  getJson(`../api/incidents/${entry.incidentId}`)
    .then((detail) => {
      context.events.noteIncident(detail);
      checklist.replaceChildren(
        ...detail.checklist.map((item) => {
          const line = element("li", item.done ? "vigie-done" : null, item.text);
          return line;
        }),
      );
    })
    .catch((error) => {
      console.warn("vigie map: cannot load the incident", error);
      checklist.textContent = t("popup.load_failed");
    });
  if (!context.canDispatch) return section;
  const buttons = element("div", "vigie-popup-actions");
  const message = element("p", "vigie-popup-error");
  for (const next of TRANSITIONS[status] ?? []) {
    const button = element("button", `vigie-action vigie-action-${next}`, t(`action.${next}`));
    button.type = "button";
    button.dataset.to = next;
    button.addEventListener("click", async () => {
      buttons.querySelectorAll("button").forEach((b) => {
        b.disabled = true;
      });
      const failure = await transition(entry.incidentId, next);
      if (failure) {
        message.textContent = t("action.failed", { detail: failure });
        buttons.querySelectorAll("button").forEach((b) => {
          b.disabled = false;
        });
        return;
      }
      context.reopen(entry);
    });
    buttons.append(button);
  }
  section.append(buttons, message);
  return section;

  /** POST the transition; null when it worked, else why not (the incident is updated live). */
  async function transition(incidentId, to) {
    try {
      const response = await fetch(`../api/incidents/${incidentId}/transition`, {
        method: "POST",
        headers: { "Content-Type": "application/json", [CSRF_HEADER]: cookie(CSRF_COOKIE) },
        body: JSON.stringify({ to }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) return typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
      context.events.noteIncident(body);
      return null;
    } catch (error) {
      return String(error);
    }
  }
}

/** The cameras layer: each placed camera, its field-of-view cone, and its state. */
function createCameraLayer(map, i18n) {
  const layer = L.layerGroup().addTo(map);
  const byId = new Map();
  const draw = (camera) => {
    const state = ["online", "offline"].includes(camera.state) ? camera.state : "unknown";
    const color = CAMERA_COLORS[state];
    const label = `${camera.name} — ${i18n.t(`camera.state.${state}`)}`;
    const marker = L.marker([camera.lat, camera.lon], {
      icon: L.divIcon({
        html: `<div class="vigie-camera-dot">${glyphMarkup(CAMERA_GLYPH)}</div>`,
        className: `vigie-camera vigie-camera-${state}`,
        iconSize: [22, 22],
      }),
      title: label,
      alt: label,
      keyboard: false,
      zIndexOffset: -1000,
    });
    marker.bindTooltip(() => cameraTooltip(camera, state, i18n), { direction: "top", offset: [0, -10] });
    let cone = null;
    const { heading_deg: heading, fov_deg: fov, range_m: range } = camera;
    if ([heading, fov, range].every(Number.isFinite)) {
      cone = L.polygon(fieldOfView(camera.lat, camera.lon, heading, fov, range), {
        color,
        fillColor: color,
        weight: 1,
        opacity: state === "online" ? 0.8 : 0.5,
        fillOpacity: state === "online" ? 0.12 : 0.05,
        dashArray: state === "online" ? null : "3 5",
        className: `vigie-cone vigie-cone-${state}`,
        interactive: false,
      });
      layer.addLayer(cone);
    }
    layer.addLayer(marker);
    return Object.freeze({ camera, state, marker, cone });
  };
  const replace = (cameras) => {
    layer.clearLayers();
    byId.clear();
    for (const camera of cameras) {
      if (Number.isFinite(camera?.lat) && Number.isFinite(camera?.lon)) byId.set(camera.id, draw(camera));
    }
  };
  return { replace, byId, layer };
}

/** The tooltip of a camera: its name, state and field of view. */
function cameraTooltip(camera, state, i18n) {
  const root = element("div", "vigie-camera-tip");
  root.append(element("strong", null, camera.name), element("div", null, i18n.t(`camera.state.${state}`)));
  if ([camera.heading_deg, camera.fov_deg, camera.range_m].every(Number.isFinite)) {
    const values = { heading: Math.round(camera.heading_deg), fov: Math.round(camera.fov_deg), range: Math.round(camera.range_m) };
    root.append(element("div", null, i18n.t("camera.fov", values)));
  }
  return root;
}

/** Parse a WebSocket message into {type, data}, or null for anything unreadable. */
/** The messages of one WebSocket frame: one object, or (batch=true) an array of them in order. */
function parseMessages(raw) {
  try {
    const frame = JSON.parse(raw);
    const messages = Array.isArray(frame) ? frame : [frame];
    return messages.filter((message) => message && typeof message === "object");
  } catch {
    console.warn("vigie map: ignored a WebSocket message that is not JSON");
    return [];
  }
}

/** Loads stored events page by page, then follows the live feed; reconnects, replaying by id. */
function followFeed({ query, onPage, onHistoryDone, onEvent, onIncident, onState }) {
  let lastId = 0;
  let connected = false;
  let attempt = 0;

  // Only events the map can draw advance the replay position: a malformed message cannot skip ids.
  const accept = (events) => {
    const drawable = [];
    for (const event of events) {
      if (isDrawable(event)) {
        lastId = Math.max(lastId, event.id);
        drawable.push(event);
      } else {
        console.warn("vigie map: skipped an event the map cannot draw", event);
      }
    }
    return drawable;
  };

  /** Every stored event of the current window, newest page first; the socket opens after one. */
  const loadHistory = async (openAfterFirstPage) => {
    // One capture window for the whole load, so its pages fit together.
    const captured = query();
    const fetchPage = (limit, beforeId) => {
      const params = new URLSearchParams({ limit: String(limit), ...captured });
      if (beforeId !== null) params.set("before_id", String(beforeId));
      return getJson(`events.json?${params}`);
    };
    let next = fetchPage(FIRST_FEED_PAGE, null);
    let loaded = 0;
    try {
      while (next) {
        const body = await next;
        if (!Array.isArray(body?.items)) throw new Error("events.json answered without items");
        loaded += body.items.length;
        const beforeId = body.next_before_id;
        // Ask for the next page before drawing this one: the hub builds it meanwhile.
        next = Number.isInteger(beforeId) && loaded < MAX_EVENTS ? fetchPage(FEED_PAGE, beforeId) : null;
        onPage(accept(body.items.slice().reverse()));
        if (openAfterFirstPage && !connected) {
          connected = true;
          openSocket();
        }
      }
    } finally {
      // A page asked for ahead is not awaited after a failure: its own failure is not news.
      next?.catch(() => {});
    }
    await onHistoryDone();
  };

  const scheduleReconnect = () => {
    // Jittered exponential back-off, so browsers do not all come back at once after a hub restart.
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt);
    attempt += 1;
    onState("reconnecting");
    setTimeout(connect, ceiling * (0.5 + Math.random() / 2));
  };

  const openSocket = () => {
    // batch=true: a busy hub sends what is waiting in one frame, which is how it keeps up
    // with every open map at once.
    const url = new URL(`../ws/events?after_id=${lastId}&batch=true`, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url);
    let openedAt = null;
    socket.onopen = () => {
      openedAt = performance.now();
      onState("live");
    };
    socket.onmessage = (message) => {
      for (const parsed of parseMessages(message.data)) {
        // Other message types are for other pages.
        if (parsed.type === "event") accept([parsed.data]).forEach(onEvent);
        else if (parsed.type === "incident") onIncident(parsed.data);
      }
    };
    // An error is always followed by a close, which is where the reconnect starts. Only a
    // connection that held starts the back-off over: one the hub closes at once (say, its
    // database is down) must not turn every open map into a tight reconnect loop.
    socket.onclose = (closed) => {
      if (closed.code === CLOSE_POLICY_VIOLATION) {
        goToLogin();
        return;
      }
      if (openedAt !== null && performance.now() - openedAt > STABLE_CONNECTION_MS) attempt = 0;
      scheduleReconnect();
    };
  };

  async function connect() {
    try {
      if (!connected) {
        await loadHistory(true);
      } else {
        openSocket();
      }
    } catch (error) {
      if (error instanceof SignedOut) {
        goToLogin();
        return;
      }
      console.warn("vigie map: cannot load stored events, retrying", error);
      if (!connected) scheduleReconnect();
    }
  }

  onState("connecting");
  connect();
  return {
    reload: () => loadHistory(false),
    lastId: () => lastId,
  };
}

/** The hub's base-map settings, or no tiles when they cannot be read. */
async function loadConfig() {
  try {
    const response = await fetch("config.json", { headers: { Accept: "application/json" } });
    if (response.ok) return await response.json();
    console.warn(`vigie map: config.json answered HTTP ${response.status}; no base map`);
  } catch (error) {
    console.warn("vigie map: cannot read config.json; no base map", error);
  }
  return { tile_url: "", tile_attribution: "" };
}

/** The [lat, lon] of a `?focus=lat,lon` query, or null when absent or invalid. */
function focusFromQuery(search) {
  const focus = new URLSearchParams(search).get("focus");
  if (focus === null) return null;
  const parts = focus.split(",").map(Number);
  const [lat, lon] = parts;
  if (parts.length === 2 && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) return [lat, lon];
  console.warn("vigie map: ignored focus, expected ?focus=<lat>,<lon>", focus);
  return null;
}

/** The signed-in user's role, or "viewer" when it cannot be read (no buttons then). */
async function loadRole() {
  try {
    return (await getJson("../api/auth/me")).role;
  } catch (error) {
    console.warn("vigie map: cannot read who is signed in", error);
    return "viewer";
  }
}

async function main() {
  const startedAt = performance.now();
  const i18n = createTranslator(initialLanguage(window.localStorage, navigator.languages), window.localStorage);
  const applyLanguage = () => {
    document.documentElement.lang = i18n.language;
    document.title = i18n.t("app.title");
  };
  applyLanguage();
  i18n.onChange(applyLanguage);

  const map = L.map("map", { worldCopyJump: true, maxZoom: MAX_ZOOM, zoomControl: false }).setView([20, 0], 2);
  L.control.zoom({ position: "bottomright" }).addTo(map);
  L.control.scale({ position: "bottomleft", imperial: false }).addTo(map);
  const setState = addConnectionIndicator(map, i18n);
  const filters = createFilters();
  const stats = { firstRenderMs: null, allPlacedMs: null };
  let controls = null;
  const events = createEventLayers(map, filters, () => updateCounts());
  const cameras = createCameraLayer(map, i18n);
  const focus = focusFromQuery(window.location.search);
  if (focus) {
    map.setView(focus, FOCUS_ZOOM, { animate: false });
    L.circleMarker(focus, { radius: 14, className: "vigie-focus", interactive: false }).addTo(map);
    events.markFitted();
  }

  const updateCounts = () => {
    let shown = 0;
    for (const entry of events.entries()) if (entry.shown) shown += 1;
    const online = [...cameras.byId.values()].filter((c) => c.state === "online").length;
    controls?.setCounts({ shown, total: events.byEventId.size, online, cameras: cameras.byId.size });
  };

  const popup = L.popup({ maxWidth: 340, minWidth: 260, autoPanPadding: [30, 30] });
  const context = { i18n, events, canDispatch: false, reopen: null };
  let popupEntry = null;
  const openPopup = (entry) => {
    popupEntry = entry;
    popup.setLatLng(entry.marker.getLatLng()).setContent(buildPopup(entry, context)).openOn(map);
  };
  context.reopen = (entry) => {
    if (map.hasLayer(popup)) openPopup(entry);
  };
  /** Redraw the open popup when its incident changed, whoever changed it (status, checklist). */
  const refreshPopup = (incidentId) => {
    if (map.hasLayer(popup) && popupEntry?.incidentId === incidentId) {
      popup.setContent(buildPopup(popupEntry, context));
    }
  };
  const entryOf = (layer) => events.byEventId.get(layer?.options?.eventId);
  events.clusters.on("click", (clicked) => openPopup(entryOf(clicked.layer)));
  events.perimeters.on("click", (clicked) => openPopup(entryOf(clicked.layer)));

  window.vigieMap = Object.freeze({
    map,
    byEventId: events.byEventId,
    clusters: events.clusters,
    perimeters: events.perimeters,
    incidents: events.incidents,
    cameras: cameras.byId,
    severityColors: SEVERITY_COLORS,
    i18n,
    stats,
  });

  // Asked for now, applied last: the stored events need neither the base map nor the role.
  const settings = Promise.all([loadConfig(), loadRole()]);

  // Live events arrive without their incident: ask the feed for it shortly after.
  let linkTimer = null;
  const linkSoon = () => {
    if (linkTimer !== null) return;
    linkTimer = setTimeout(async () => {
      linkTimer = null;
      const unlinked = events.unlinked();
      if (!unlinked.length) return;
      const after = Math.min(...unlinked.map((entry) => entry.event.id)) - 1;
      try {
        const body = await getJson(`events.json?after_id=${after}&limit=5000`);
        events.attach(body.items ?? []);
      } catch (error) {
        console.warn("vigie map: cannot link events to incidents", error);
      }
    }, LINK_DELAY_MS);
  };

  const refreshCameras = async () => {
    try {
      const body = await getJson("../api/cameras");
      cameras.replace(Array.isArray(body?.items) ? body.items : []);
      updateCounts();
    } catch (error) {
      console.warn("vigie map: cannot load cameras", error);
    }
  };

  const feedQuery = () => {
    const { from, to } = filters.bounds(Date.now());
    const query = {};
    if (from) query.captured_from = from.toISOString();
    if (to) query.captured_to = to.toISOString();
    return query;
  };
  const refilter = () => {
    events.applyFilters();
    updateCounts();
  };
  let feed = null;
  controls = addControls(map, i18n, filters, {
    setWindow(choice, range) {
      filters.state.window = choice;
      if (range) filters.state.custom = range;
      refilter();
      feed?.reload().catch((error) => console.warn("vigie map: cannot load stored events", error));
    },
    refilter,
  });

  feed = followFeed({
    query: feedQuery,
    onPage: (page) => {
      events.add(page, false);
      controls.noteTypes(page.map((event) => event.threat_type));
      if (stats.firstRenderMs === null) stats.firstRenderMs = performance.now() - startedAt;
    },
    onHistoryDone: async () => {
      await events.placed();
      if (stats.allPlacedMs === null) stats.allPlacedMs = performance.now() - startedAt;
      updateCounts();
    },
    onEvent: (event) => {
      events.add([event], true);
      controls.noteTypes([event.threat_type]);
      linkSoon();
    },
    onIncident: (incident) => {
      events.noteIncident(incident);
      refreshPopup(incident?.id);
      if (events.unlinked().length) linkSoon();
      if (incident?.source === "health" || HEALTH_THREATS.includes(incident?.threat_type)) refreshCameras();
    },
    onState: (state) => {
      setState(state);
      if (state === "live") linkSoon();
    },
  });
  refreshCameras();
  setInterval(refreshCameras, CAMERA_REFRESH_MS);
  // Relative windows slide: events age out of "the last 15 minutes" while the page stays open.
  setInterval(refilter, WINDOW_TICK_MS);

  const [config, role] = await settings;
  context.canDispatch = DISPATCHER_ROLES.includes(role);
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution, maxZoom: MAX_ZOOM }).addTo(map);
  }
}

main();
