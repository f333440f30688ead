// Vigie live map: draws the hub's stored threat events, then adds new ones live over a WebSocket.
// Every string that comes from an event is rendered through text nodes, never as markup.

const HISTORY_LIMIT = 500;
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 15000;
const STABLE_CONNECTION_MS = 10000;
const TOP_DETECTIONS = 3;
const FIT_MAX_ZOOM = 17;
// Set on the map itself: with no tile layer Leaflet has no zoom limit, which clustering needs.
const MAX_ZOOM = 19;
const SEVERITY_COLORS = Object.freeze({
  low: "#2563eb",
  medium: "#d97706",
  high: "#dc2626",
  critical: "#7c3aed",
});
const SEVERITY_ORDER = Object.freeze(["low", "medium", "high", "critical"]);
const UNKNOWN_SEVERITY_COLOR = "#6b7280";
// The hub closes the stream with this code (RFC 6455 policy violation) when the session is gone.
const CLOSE_POLICY_VIOLATION = 1008;
const LOGIN_PAGE = "../login";
const CONNECTION_LABELS = Object.freeze({
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
});

/** The display colour of a severity (grey for one this page does not know). */
function severityColor(severity) {
  return Object.hasOwn(SEVERITY_COLORS, severity) ? SEVERITY_COLORS[severity] : UNKNOWN_SEVERITY_COLOR;
}

/** A new element with an optional class and text content (set as text, so it stays inert). */
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
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
    event.perimeter_m > 0
  );
}

/** The capture time as a <time> element: local wall-clock text, exact ISO instant attribute. */
function captureTime(capturedAt) {
  const instant = new Date(capturedAt);
  if (Number.isNaN(instant.getTime())) return element("time", null, capturedAt);
  const node = element("time", null, instant.toLocaleString(undefined, { timeZoneName: "short" }));
  node.dateTime = instant.toISOString();
  return node;
}

/** The highest-scoring detections, best first. */
function topDetections(detections) {
  const valid = Array.isArray(detections) ? detections.filter((d) => Number.isFinite(d?.score)) : [];
  return valid.sort((a, b) => b.score - a.score).slice(0, TOP_DETECTIONS);
}

/** The popup content of one event, built from DOM nodes. */
function buildPopup(event) {
  const root = element("div", "vigie-popup");
  const title = element("h3", "vigie-popup-title");
  const badge = element("span", "vigie-popup-severity", event.severity);
  badge.style.background = severityColor(event.severity);
  title.append(badge, element("span", "vigie-popup-threat", event.threat_type));
  root.append(title);

  const facts = element("dl");
  const fact = (label, ...values) => {
    const value = element("dd");
    value.append(...values);
    facts.append(element("dt", null, label), value);
  };
  const { lat, lon, accuracy_m: accuracy, source } = event.location;
  fact("Camera", element("span", "vigie-popup-camera", event.camera_id), ` (agent ${event.agent_id})`);
  fact("Captured", captureTime(event.captured_at));
  fact("GPS", element("span", "vigie-popup-gps", `${lat.toFixed(6)}, ${lon.toFixed(6)}`));
  fact("Accuracy", `±${Math.round(accuracy)} m (${source})`);
  fact("Perimeter", `${Math.round(event.perimeter_m)} m`);
  root.append(facts);

  const list = element("ol", "vigie-popup-detections");
  for (const detection of topDetections(event.detections)) {
    const item = element("li");
    item.append(
      element("span", "vigie-popup-label", detection.label),
      ` ${Math.round(detection.score * 100)}%`,
    );
    list.append(item);
  }
  root.append(list);
  return root;
}

/** A round divIcon filled with a colour; the fill is set through the DOM, not markup. */
function dotIcon(color, className) {
  const dot = element("div", "vigie-marker-dot");
  dot.style.background = color;
  return L.divIcon({ html: dot, className, iconSize: [18, 18], popupAnchor: [0, -8] });
}

/** The cluster badge: the number of events, coloured by the worst severity among them. */
function clusterIcon(cluster) {
  const ranks = cluster.getAllChildMarkers().map((m) => SEVERITY_ORDER.indexOf(m.options.severity));
  const worst = SEVERITY_ORDER[Math.max(...ranks)];
  const badge = element("div", "vigie-cluster-badge", cluster.getChildCount());
  badge.style.background = severityColor(worst);
  return L.divIcon({ html: badge, className: "vigie-cluster", iconSize: [36, 36] });
}

/** The marker and the perimeter circle of one event, popups bound, not yet on the map. */
function eventLayers(event, fresh) {
  const color = severityColor(event.severity);
  const center = L.latLng(event.location.lat, event.location.lon);
  const popup = () => buildPopup(event);
  const className = fresh ? "vigie-marker vigie-marker-fresh" : "vigie-marker";
  const marker = L.marker(center, {
    icon: dotIcon(color, className),
    title: `${event.threat_type} — ${event.camera_id}`,
    alt: `${event.severity} ${event.threat_type}`,
    riseOnHover: true,
    severity: event.severity,
  }).bindPopup(popup, { maxWidth: 320 });
  const perimeter = L.circle(center, {
    radius: event.perimeter_m,
    color,
    fillColor: color,
    fillOpacity: 0.12,
    weight: 2,
  }).bindPopup(popup, { maxWidth: 320 });
  return { marker, perimeter };
}

/** The bounds covering each event's whole perimeter. */
function eventBounds(events) {
  const bounds = L.latLngBounds([]);
  for (const event of events) {
    const center = L.latLng(event.location.lat, event.location.lon);
    bounds.extend(center.toBounds(event.perimeter_m * 2));
  }
  return bounds;
}

/** A map control showing the feed's state; returns a function that updates it. */
function addConnectionIndicator(map) {
  const indicator = element("div", "vigie-connection");
  indicator.setAttribute("role", "status");
  const control = L.control({ position: "topright" });
  control.onAdd = () => indicator;
  control.addTo(map);
  return (state) => {
    indicator.dataset.state = state;
    indicator.textContent = CONNECTION_LABELS[state];
  };
}

/** The events layer set: dedupes by event_id, draws, and fits the view once events exist. */
function createEventLayers(map) {
  const byEventId = new Map();
  const clusters = L.markerClusterGroup({
    maxClusterRadius: 40,
    showCoverageOnHover: false,
    iconCreateFunction: clusterIcon,
  }).addTo(map);
  const perimeters = L.featureGroup().addTo(map);
  let fitted = false;

  const add = (events, fresh) => {
    const unseen = events.filter((event) => !byEventId.has(event.event_id));
    // Fit once, to the first events seen; later events never move the dispatcher's view. Fitting
    // before drawing lets clustering draw once at the final zoom instead of animating there.
    if (!fitted && unseen.length > 0) {
      map.fitBounds(eventBounds(unseen), { padding: [40, 40], maxZoom: FIT_MAX_ZOOM, animate: false });
      fitted = true;
    }
    for (const event of unseen) {
      const layers = eventLayers(event, fresh);
      clusters.addLayer(layers.marker);
      perimeters.addLayer(layers.perimeter);
      byEventId.set(event.event_id, Object.freeze(layers));
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
  return { add, byEventId: view, clusters };
}

/** Raised when the hub answers 401: the session expired or was ended. */
class SignedOut extends Error {}

/** Sends the browser to the login page, which brings it back here after signing in. */
function goToLogin() {
  const login = new URL(LOGIN_PAGE, window.location.href);
  login.searchParams.set("next", window.location.pathname + window.location.search);
  window.location.assign(login.href);
}

/** The `event` payload of a WebSocket message, or null for anything else. */
function eventFromMessage(raw) {
  let message;
  try {
    message = JSON.parse(raw);
  } catch {
    console.warn("vigie map: ignored a WebSocket message that is not JSON");
    return null;
  }
  // Other message types are for other pages; the map only draws events.
  return message?.type === "event" ? message.data : null;
}

/** Loads stored events, then follows the live feed; reconnects with back-off, replaying by id. */
function followEvents({ onHistory, onLive, onState }) {
  let lastId = 0;
  let historyLoaded = false;
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

  const loadHistory = async () => {
    const response = await fetch(`../api/events?limit=${HISTORY_LIMIT}`, {
      headers: { Accept: "application/json" },
    });
    if (response.status === 401) throw new SignedOut("GET /api/events answered HTTP 401");
    if (!response.ok) throw new Error(`GET /api/events answered HTTP ${response.status}`);
    const body = await response.json();
    if (!Array.isArray(body?.items)) throw new Error("GET /api/events answered without items");
    onHistory(accept(body.items.slice().reverse()));
  };

  const scheduleReconnect = () => {
    // Jittered exponential back-off, so browsers do not all come back at once after a hub restart.
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt);
    attempt += 1;
    onState("reconnecting");
    setTimeout(connect, ceiling * (0.5 + Math.random() / 2));
  };

  const openSocket = () => {
    const url = new URL(`../ws/events?after_id=${lastId}`, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url);
    let openedAt = null;
    socket.onopen = () => {
      openedAt = performance.now();
      onState("live");
    };
    socket.onmessage = (message) => {
      const event = eventFromMessage(message.data);
      if (event !== null) accept([event]).forEach(onLive);
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
      if (!historyLoaded) {
        await loadHistory();
        historyLoaded = true;
      }
      openSocket();
    } catch (error) {
      if (error instanceof SignedOut) {
        goToLogin();
        return;
      }
      console.warn("vigie map: cannot load stored events, retrying", error);
      scheduleReconnect();
    }
  }

  onState("connecting");
  connect();
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

async function main() {
  const map = L.map("map", { worldCopyJump: true, maxZoom: MAX_ZOOM }).setView([20, 0], 2);
  const setState = addConnectionIndicator(map);
  const events = createEventLayers(map);
  window.vigieMap = Object.freeze({
    map,
    byEventId: events.byEventId,
    clusters: events.clusters,
    severityColors: SEVERITY_COLORS,
  });

  const config = await loadConfig();
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution, maxZoom: MAX_ZOOM }).addTo(map);
  }
  followEvents({
    onHistory: (stored) => events.add(stored, false),
    onLive: (event) => events.add([event], true),
    onState: setState,
  });
}

main();
