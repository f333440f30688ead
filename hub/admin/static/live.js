// Live threats: incidents (newest first) and the latest detections, kept current by the stream.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import {
  OPEN_STATUSES,
  STATUSES,
  cameraLabel,
  coordinates,
  errorBox,
  severityBadge,
  statusBadge,
  timeCell,
} from "./format.js";
import { filterBar, matchesSearch, selectField, threatTypesOf, windowStart } from "./filters.js";

const PAGE_SIZE = 50;
const FEED_SIZE = 25;

/** Mount the live view in `root`; returns its stream handler and clean-up. */
export function mount(ctx, root) {
  const view = new LiveView(ctx, root);
  view.start();
  return { onMessage: (message) => view.receive(message), unmount: () => view.stop() };
}

class LiveView {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.root = root;
    this.filters = { status: "open", type: "", severity: "", camera: "", window: "86400", q: "" };
    this.rows = new Map();
    this.nextBeforeId = null;
    this.loadToken = 0;
    this.tbody = h("tbody", { id: "incident-rows" });
    this.feed = h("ol", { id: "event-feed", className: "feed" });
    this.count = h("span", { className: "panel-count" });
    this.more = h("button", {
      id: "incidents-more",
      type: "button",
      className: "secondary",
      hidden: true,
      text: ctx.i18n.t("list.more"),
      on: { click: () => this.loadPage(false) },
    });
    this.clockTimer = null;
  }

  async start() {
    const t = (key) => this.ctx.i18n.t(key);
    let threatTypes = [];
    try {
      threatTypes = threatTypesOf(await api("api/playbooks"));
    } catch (error) {
      this.root.append(errorBox(error.message));
    }
    const statusPairs = [
      ["open", t("filters.open")],
      ["", t("filters.any")],
      ...STATUSES.map((status) => [status, t(`status.${status}`)]),
    ];
    const statusField = selectField("filter-status", t("filters.status"), statusPairs, this.filters.status, (value) =>
      this.changeFilters({ ...this.filters, status: value }),
    );
    const bar = filterBar(this.ctx, threatTypes, this.filters, (state, searchOnly) => this.changeFilters(state, searchOnly), [
      statusField,
    ]);
    const table = h(
      "table",
      { className: "grid incidents" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["col.severity", "col.id", "col.type", "col.camera", "col.status", "col.lastSeen", "col.events", "col.position"].map(
            (key) => h("th", { scope: "col", text: t(key) }),
          ),
        ),
      ),
      this.tbody,
    );
    this.root.append(
      h(
        "section",
        { className: "live" },
        bar,
        h(
          "div",
          { className: "live-grid" },
          h(
            "section",
            { className: "panel" },
            h("header", { className: "panel-head" }, h("h2", { text: t("live.incidents") }), this.count),
            h("div", { className: "table-wrap" }, table),
            h("div", { className: "panel-foot" }, this.more),
          ),
          h(
            "aside",
            { className: "panel feed-panel" },
            h("header", { className: "panel-head" }, h("h2", { text: t("live.detections") })),
            this.feed,
          ),
        ),
      ),
    );
    await Promise.all([this.loadPage(true), this.loadFeed()]);
  }

  stop() {
    this.loadToken += 1;
  }

  changeFilters(state, searchOnly = false) {
    this.filters = state;
    if (searchOnly) this.applySearch();
    else this.loadPage(true);
  }

  query(beforeId) {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const statuses = this.filters.status === "open" ? OPEN_STATUSES : this.filters.status ? [this.filters.status] : [];
    for (const status of statuses) params.append("status", status);
    if (this.filters.type) params.set("threat_type", this.filters.type);
    if (this.filters.severity) params.set("severity", this.filters.severity);
    if (this.filters.camera) params.set("camera_id", this.filters.camera);
    const since = windowStart(this.filters.window);
    if (since) params.set("since", since);
    if (beforeId) params.set("before_id", String(beforeId));
    return params;
  }

  async loadPage(fromTop) {
    const token = ++this.loadToken;
    let page;
    try {
      page = await api("api/incidents", { params: this.query(fromTop ? null : this.nextBeforeId) });
    } catch (error) {
      this.ctx.toast(error.message, "error");
      return;
    }
    if (token !== this.loadToken) return; // A newer load (other filters) superseded this one.
    if (fromTop) {
      this.rows.clear();
      replaceChildren(this.tbody);
    }
    this.ctx.alarm.know(page.items.map((incident) => incident.id));
    for (const incident of page.items) this.place(incident);
    this.nextBeforeId = page.next_before_id;
    this.more.hidden = page.next_before_id === null;
    this.applySearch();
  }

  async loadFeed() {
    try {
      const page = await api("api/events", { params: new URLSearchParams({ limit: String(FEED_SIZE) }) });
      // Newest first from the API: append in that order.
      for (const event of page.items) this.feed.append(this.feedItem(event));
    } catch (error) {
      this.feed.append(h("li", { className: "muted", text: error.message }));
    }
  }

  matches(incident) {
    const f = this.filters;
    if (f.status === "open" && !OPEN_STATUSES.includes(incident.status)) return false;
    if (f.status && f.status !== "open" && incident.status !== f.status) return false;
    if (f.type && incident.threat_type !== f.type) return false;
    if (f.severity && incident.severity !== f.severity) return false;
    if (f.camera && incident.camera_id !== f.camera) return false;
    const since = windowStart(f.window);
    return !since || new Date(incident.last_seen) >= new Date(since);
  }

  receive(message) {
    if (message.type === "event") {
      this.feed.prepend(this.feedItem(message.data, true));
      while (this.feed.children.length > FEED_SIZE) this.feed.lastElementChild.remove();
      return;
    }
    const incident = message.data;
    if (!this.matches(incident)) {
      this.rows.get(incident.id)?.remove();
      this.rows.delete(incident.id);
    } else {
      this.place(incident, true);
    }
    this.applySearch();
  }

  /** Insert or replace the incident's row, keeping rows in descending id order. */
  place(incident, fresh = false) {
    const row = this.row(incident);
    if (fresh) row.classList.add("flash");
    const existing = this.rows.get(incident.id);
    this.rows.set(incident.id, row);
    if (existing) {
      existing.replaceWith(row);
      return;
    }
    const after = [...this.tbody.children].find((other) => Number(other.dataset.incidentId) < incident.id);
    this.tbody.insertBefore(row, after ?? null);
  }

  row(incident) {
    const ctx = this.ctx;
    const open = () => {
      window.location.hash = `#/incident/${incident.id}`;
    };
    const searchable = [
      String(incident.id),
      incident.threat_type,
      ctx.i18n.threat(incident.threat_type),
      incident.camera_id,
      incident.camera_id ? ctx.cameras.nameOf(incident.camera_id) : "",
      incident.agent_id,
      ctx.i18n.t(`status.${incident.status}`),
      ctx.i18n.t(`severity.${incident.severity}`),
    ];
    return h(
      "tr",
      {
        className: `incident-row severity-row-${incident.severity}`,
        tabIndex: 0,
        dataset: { incidentId: String(incident.id), status: incident.status, search: searchable.join(" ") },
        on: { click: open, keydown: (event) => event.key === "Enter" && open() },
      },
      h("td", {}, severityBadge(incident.severity, ctx.i18n)),
      h("td", { className: "num" }, h("a", { href: `#/incident/${incident.id}`, text: `#${incident.id}` })),
      h("td", { className: "type", text: ctx.i18n.threat(incident.threat_type) }),
      h("td", {}, incident.camera_id ? cameraLabel(incident.camera_id, ctx) : h("span", { text: incident.agent_id })),
      h("td", {}, statusBadge(incident.status, ctx.i18n)),
      h("td", {}, timeCell(incident.last_seen, ctx.i18n)),
      h("td", { className: "num", text: String(incident.event_count) }),
      h("td", {}, coordinates(incident.lat, incident.lon, ctx)),
    );
  }

  feedItem(event, fresh = false) {
    const ctx = this.ctx;
    const top = event.detections.reduce((best, detection) => (detection.score > best.score ? detection : best));
    return h(
      "li",
      { className: `feed-item severity-row-${event.severity}${fresh ? " flash" : ""}`, dataset: { eventId: event.event_id } },
      h(
        "div",
        { className: "feed-line" },
        severityBadge(event.severity, ctx.i18n),
        h("strong", { text: ctx.i18n.threat(event.threat_type) }),
        h("span", { className: "muted", text: `${top.label} ${Math.round(top.score * 100)} %` }),
      ),
      h("div", { className: "feed-line" }, cameraLabel(event.camera_id, ctx), timeCell(event.captured_at, ctx.i18n)),
      h("div", { className: "feed-line" }, coordinates(event.location.lat, event.location.lon, ctx)),
    );
  }

  applySearch() {
    let shown = 0;
    for (const row of this.rows.values()) {
      row.hidden = !matchesSearch(this.filters.q, [row.dataset.search]);
      if (!row.hidden) shown += 1;
    }
    this.tbody.querySelector(".empty-row")?.remove();
    if (shown === 0) {
      this.tbody.append(
        h("tr", { className: "empty-row" }, h("td", { colSpan: 8, className: "muted", text: this.ctx.i18n.t("live.empty") })),
      );
    }
    this.count.textContent = this.ctx.i18n.t("list.count", shown);
  }
}
