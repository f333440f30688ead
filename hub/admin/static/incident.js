// One incident: snapshot, detections, position on a small map, checklist, lifecycle, audit trail.

import { ApiError, api, hubUrl } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { cameraLabel, coordinates, errorBox, severityBadge, statusBadge, timeCell } from "./format.js";

// Mirrors the hub's lifecycle (hub/incidents/service.py TRANSITIONS); the hub has the last word.
const TRANSITIONS = {
  new: ["acknowledged", "resolved", "false_alarm"],
  acknowledged: ["dispatched", "resolved", "false_alarm"],
  dispatched: ["resolved", "false_alarm"],
  resolved: [],
  false_alarm: [],
};
const ACTION_KEYS = {
  acknowledged: "action.acknowledge",
  dispatched: "action.dispatch",
  resolved: "action.resolve",
  false_alarm: "action.falseAlarm",
};
const MAP_ZOOM = 16;

/** Mount the detail of incident `id` in `root`. */
export function mount(ctx, root, id) {
  const view = new IncidentView(ctx, root, Number(id));
  view.load();
  return { onMessage: (message) => view.receive(message), unmount: () => view.stop() };
}

class IncidentView {
  constructor(ctx, root, id) {
    this.ctx = ctx;
    this.root = root;
    this.id = id;
    this.map = null;
    this.stopped = false;
    this.busy = false;
  }

  stop() {
    this.stopped = true;
    this.map?.remove();
  }

  receive(message) {
    if (message.type === "incident" && message.data.id === this.id && !this.busy) this.load();
  }

  async load() {
    const t = (key, ...args) => this.ctx.i18n.t(key, ...args);
    if (!Number.isInteger(this.id) || this.id < 1) {
      replaceChildren(this.root, errorBox(t("incident.notFound")));
      return;
    }
    let incident;
    try {
      incident = await api(`api/incidents/${this.id}`);
    } catch (error) {
      if (this.stopped) return;
      replaceChildren(this.root, errorBox(error instanceof ApiError && error.status === 404 ? t("incident.notFound") : error.message));
      return;
    }
    if (this.stopped) return;
    // Keep a note being typed across a live refresh.
    const draft = this.root.querySelector("#transition-note")?.value ?? "";
    this.map?.remove();
    this.map = null;
    replaceChildren(this.root, this.render(incident));
    const note = this.root.querySelector("#transition-note");
    if (note) note.value = draft;
    this.drawMap(incident);
    document.title = `#${incident.id} ${this.ctx.i18n.threat(incident.threat_type)} — Vigie`;
  }

  render(incident) {
    const ctx = this.ctx;
    const t = (key, ...args) => ctx.i18n.t(key, ...args);
    const head = h(
      "header",
      { className: `detail-head severity-row-${incident.severity}` },
      h("a", { className: "back", href: "#/live", text: `← ${t("nav.live")}` }),
      h(
        "h1",
        { id: "incident-title" },
        h("span", { text: `#${incident.id} ` }),
        h("span", { text: ctx.i18n.threat(incident.threat_type) }),
      ),
      severityBadge(incident.severity, ctx.i18n),
      h("span", { id: "incident-status" }, statusBadge(incident.status, ctx.i18n)),
      h(
        "dl",
        { className: "facts" },
        fact(t("col.camera"), incident.camera_id ? cameraLabel(incident.camera_id, ctx) : "—"),
        fact(t("col.agent"), incident.agent_id),
        fact(t("incident.firstSeen"), timeCell(incident.first_seen, ctx.i18n)),
        fact(t("col.lastSeen"), timeCell(incident.last_seen, ctx.i18n)),
        fact(t("col.events"), String(incident.event_count)),
      ),
    );
    const left = h(
      "div",
      { className: "detail-column" },
      this.snapshotPanel(incident),
      this.detectionsPanel(incident),
    );
    const right = h(
      "div",
      { className: "detail-column" },
      this.locationPanel(incident),
      this.checklistPanel(incident),
      this.ctx.canAct ? this.actionsPanel(incident) : null,
      this.auditPanel(incident),
    );
    return h("article", { className: "incident", dataset: { incidentId: String(incident.id) } }, head, h("div", { className: "detail-grid" }, left, right));
  }

  snapshotPanel(incident) {
    const t = (key) => this.ctx.i18n.t(key);
    const body = h("div", { className: "snapshot" });
    const newestFirst = [...incident.events].reverse();
    const missing = h("p", { className: "muted", text: t(incident.events.length ? "incident.noSnapshot" : "incident.healthIncident") });
    const tryFrom = (index) => {
      if (index >= newestFirst.length) {
        replaceChildren(body, missing);
        return;
      }
      const image = h("img", {
        id: "snapshot",
        alt: t("incident.snapshot"),
        src: hubUrl(`api/events/${encodeURIComponent(newestFirst[index].event_id)}/snapshot`).href,
        on: { error: () => tryFrom(index + 1) },
      });
      replaceChildren(body, image);
    };
    tryFrom(0);
    const details = Object.keys(incident.details ?? {}).length
      ? h("p", { className: "muted", text: String(incident.details.reason ?? "") })
      : null;
    return panel(t("incident.snapshot"), body, details);
  }

  detectionsPanel(incident) {
    const ctx = this.ctx;
    const t = (key) => ctx.i18n.t(key);
    const latest = incident.events.at(-1);
    if (!latest) return null;
    const rows = latest.detections.map((detection) =>
      h(
        "tr",
        {},
        h("td", { text: detection.label }),
        h("td", { className: "num" }, scoreBar(detection.score)),
        h("td", { className: "num muted", text: detection.box.map((value) => value.toFixed(2)).join(" ") }),
        h("td", { className: "num", text: detection.track_id ?? "—" }),
      ),
    );
    const table = h(
      "table",
      { className: "grid compact", id: "detections" },
      h("thead", {}, h("tr", {}, ["col.label", "col.score", "col.box", "col.track"].map((key) => h("th", { text: t(key) })))),
      h("tbody", {}, rows),
    );
    const meta = h(
      "p",
      { className: "muted" },
      `${t("incident.model")}: ${latest.model.name}${latest.model.version ? ` ${latest.model.version}` : ""} · `,
      timeCell(latest.captured_at, ctx.i18n),
    );
    return panel(t("incident.detections"), table, meta);
  }

  locationPanel(incident) {
    const ctx = this.ctx;
    const t = (key, ...args) => ctx.i18n.t(key, ...args);
    const latest = incident.events.at(-1);
    const facts = h(
      "dl",
      { className: "facts" },
      fact(t("incident.gps"), h("span", { id: "incident-coords" }, coordinates(incident.lat, incident.lon, ctx))),
      fact(t("incident.perimeter"), t("unit.metres", Math.round(incident.perimeter_m))),
      latest ? fact(t("incident.accuracy"), latest.location.accuracy_m ? t("unit.metres", Math.round(latest.location.accuracy_m)) : "—") : null,
      latest ? fact(t("incident.locationSource"), t(`source.${latest.location.source}`)) : null,
    );
    const mapBox = incident.lat === null ? null : h("div", { id: "incident-map", className: "mini-map" });
    return panel(t("incident.location"), facts, mapBox);
  }

  checklistPanel(incident) {
    const t = (key, ...args) => this.ctx.i18n.t(key, ...args);
    const editable = this.ctx.canAct && TRANSITIONS[incident.status].length > 0;
    const items = incident.checklist.map((item) => {
      const box = h("input", {
        type: "checkbox",
        checked: item.done,
        disabled: !editable,
        dataset: { itemId: String(item.id) },
        on: { change: () => this.tick(incident, item, box.checked) },
      });
      return h(
        "li",
        { className: item.done ? "done" : "" },
        h("label", {}, box, h("span", { className: "step", text: `${item.position}.` }), h("span", { className: "action-text", text: item.text })),
        item.done ? h("small", { className: "muted block" }, t("incident.doneBy", item.done_by ?? ""), " · ", timeCell(item.done_at, this.ctx.i18n)) : null,
      );
    });
    const done = incident.checklist.filter((item) => item.done).length;
    return panel(
      `${t("incident.checklist")} (${done}/${incident.checklist.length})`,
      h("ol", { id: "checklist", className: "checklist" }, items),
    );
  }

  actionsPanel(incident) {
    const t = (key) => this.ctx.i18n.t(key);
    const allowed = TRANSITIONS[incident.status];
    if (allowed.length === 0) return panel(t("incident.actions"), h("p", { className: "muted", text: t("incident.closed") }));
    const note = h("textarea", { id: "transition-note", rows: 2, maxLength: 2000, placeholder: t("incident.notePlaceholder") });
    const buttons = allowed.map((to) =>
      h("button", {
        type: "button",
        className: `action action-${to}`,
        dataset: { transition: to },
        text: t(ACTION_KEYS[to]),
        on: { click: () => this.transition(incident, to, note.value.trim()) },
      }),
    );
    return panel(
      t("incident.actions"),
      h("label", { className: "field" }, h("span", { className: "field-label", text: t("incident.note") }), note),
      h("div", { className: "button-row" }, buttons),
    );
  }

  auditPanel(incident) {
    const ctx = this.ctx;
    const t = (key, ...args) => ctx.i18n.t(key, ...args);
    const entries = [...incident.audit].reverse().map((entry) =>
      h(
        "li",
        { dataset: { action: entry.action } },
        h("div", { className: "audit-line" }, timeCell(entry.at, ctx.i18n), h("strong", { className: "actor", text: entry.actor }), h("span", { text: auditText(entry, ctx) })),
        entry.note ? h("blockquote", { className: "note", text: entry.note }) : null,
      ),
    );
    return panel(t("incident.audit"), h("ol", { id: "audit-trail", className: "audit" }, entries));
  }

  drawMap(incident) {
    const box = this.root.querySelector("#incident-map");
    if (!box || !window.L) return;
    const center = [incident.lat, incident.lon];
    const map = window.L.map(box, { zoomControl: true, attributionControl: Boolean(this.ctx.config.tile_url) }).setView(center, MAP_ZOOM);
    if (this.ctx.config.tile_url) {
      window.L.tileLayer(this.ctx.config.tile_url, { attribution: this.ctx.config.tile_attribution, maxZoom: 19 }).addTo(map);
    }
    const colour = getComputedStyle(document.documentElement).getPropertyValue(`--sev-${incident.severity}`).trim() || "#dc2626";
    const perimeter = window.L.circle(center, { radius: incident.perimeter_m, color: colour, weight: 2, fillOpacity: 0.15, className: "perimeter" }).addTo(map);
    window.L.circleMarker(center, { radius: 6, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 }).addTo(map);
    map.fitBounds(perimeter.getBounds(), { padding: [12, 12] });
    this.map = map;
  }

  async transition(incident, to, note) {
    await this.change(() => api(`api/incidents/${incident.id}/transition`, { method: "POST", body: note ? { to, note } : { to } }), true);
  }

  async tick(incident, item, done) {
    await this.change(() => api(`api/incidents/${incident.id}/checklist/${item.id}`, { method: "PUT", body: { done } }), false);
  }

  async change(request, clearNote) {
    this.busy = true;
    try {
      await request();
      if (clearNote) {
        const note = this.root.querySelector("#transition-note");
        if (note) note.value = "";
      }
      this.ctx.toast(this.ctx.i18n.t("incident.saved"));
    } catch (error) {
      this.ctx.toast(error.message, "error");
    } finally {
      this.busy = false;
      await this.load();
    }
  }
}

function panel(title, ...children) {
  return h("section", { className: "panel" }, h("header", { className: "panel-head" }, h("h2", { text: title })), h("div", { className: "panel-body" }, children));
}

function fact(label, value) {
  return [h("dt", { text: label }), h("dd", {}, value)];
}

function scoreBar(score) {
  const percent = Math.round(score * 100);
  const bar = h("span", { className: "score-bar" }, h("span", { className: "score-fill" }));
  bar.firstChild.style.width = `${percent}%`;
  return h("span", { className: "score" }, bar, h("span", { text: `${percent} %` }));
}

function auditText(entry, ctx) {
  const t = (key, ...args) => ctx.i18n.t(key, ...args);
  const details = entry.details ?? {};
  if (entry.action === "incident.transition") {
    return t("audit.transition", t(`status.${details.from}`), t(`status.${details.to}`));
  }
  if (entry.action === "incident.checklist") {
    return t(details.done ? "audit.ticked" : "audit.unticked", String(details.text ?? ""));
  }
  if (entry.action === "incident.open") return t("audit.opened");
  return entry.action;
}
