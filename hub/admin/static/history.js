// Event history: the same filters as the live view, keyset pages of 50, CSV and GeoJSON exports.

import { api, hubUrl } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { cameraLabel, coordinates, severityBadge, timeCell } from "./format.js";
import { filterBar, matchesSearch, threatTypesOf, windowStart } from "./filters.js";

const PAGE_SIZE = 50;

/** Mount the history view in `root`. */
export function mount(ctx, root) {
  const view = new HistoryView(ctx, root);
  view.start();
  return { unmount: () => view.stop() };
}

class HistoryView {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.root = root;
    this.filters = { type: "", severity: "", camera: "", window: "", q: "" };
    // Cursors of the pages shown before this one (before_id of each; null = the newest page).
    this.cursors = [];
    this.cursor = null;
    this.olderCursor = null;
    this.items = [];
    this.token = 0;
    this.tbody = h("tbody", { id: "history-rows" });
    this.pageInfo = h("span", { className: "muted", id: "history-page" });
    this.newer = h("button", { type: "button", id: "history-newer", className: "secondary", text: `← ${ctx.i18n.t("history.newer")}`, on: { click: () => this.goNewer() } });
    this.older = h("button", { type: "button", id: "history-older", className: "secondary", text: `${ctx.i18n.t("history.older")} →`, on: { click: () => this.goOlder() } });
    this.csv = h("a", { id: "export-csv", className: "button secondary", text: ctx.i18n.t("history.csv"), download: "events.csv" });
    this.geojson = h("a", { id: "export-geojson", className: "button secondary", text: ctx.i18n.t("history.geojson"), download: "events.geojson" });
  }

  async start() {
    const t = (key) => this.ctx.i18n.t(key);
    let threatTypes = [];
    try {
      threatTypes = threatTypesOf(await api("api/playbooks"));
    } catch (error) {
      this.ctx.toast(error.message, "error");
    }
    const bar = filterBar(this.ctx, threatTypes, this.filters, (state, searchOnly) => this.changeFilters(state, searchOnly));
    const columns = ["col.id", "col.captured", "col.severity", "col.type", "col.camera", "col.agent", "col.label", "col.position"];
    this.root.append(
      h(
        "section",
        { className: "history" },
        bar,
        h(
          "section",
          { className: "panel" },
          h("header", { className: "panel-head" }, h("h2", { text: t("nav.history") }), h("div", { className: "button-row" }, this.csv, this.geojson)),
          h(
            "div",
            { className: "table-wrap" },
            h("table", { className: "grid", id: "history" }, h("thead", {}, h("tr", {}, columns.map((key) => h("th", { scope: "col", text: t(key) })))), this.tbody),
          ),
          h("div", { className: "panel-foot pager" }, this.newer, this.pageInfo, this.older),
        ),
      ),
    );
    this.changeFilters(this.filters);
  }

  stop() {
    this.token += 1;
  }

  params() {
    const params = new URLSearchParams();
    if (this.filters.type) params.set("threat_type", this.filters.type);
    if (this.filters.severity) params.set("severity", this.filters.severity);
    if (this.filters.camera) params.set("camera_id", this.filters.camera);
    const since = windowStart(this.filters.window);
    if (since) params.set("captured_from", since);
    return params;
  }

  changeFilters(state, searchOnly = false) {
    this.filters = state;
    if (searchOnly) {
      this.render();
      return;
    }
    this.csv.href = hubUrl("api/events/export.csv", this.params()).href;
    this.geojson.href = hubUrl("api/events/export.geojson", this.params()).href;
    this.cursors = [];
    this.load(null);
  }

  async load(cursor) {
    const token = ++this.token;
    const params = this.params();
    // One more than shown: whether an older page exists, without counting the table.
    params.set("limit", String(PAGE_SIZE + 1));
    if (cursor !== null) params.set("before_id", String(cursor));
    let page;
    try {
      page = await api("api/events", { params });
    } catch (error) {
      this.ctx.toast(error.message, "error");
      return;
    }
    if (token !== this.token) return;
    this.cursor = cursor;
    this.items = page.items.slice(0, PAGE_SIZE);
    this.olderCursor = page.items.length > PAGE_SIZE ? this.items.at(-1).id : null;
    this.render();
  }

  goOlder() {
    if (this.olderCursor === null) return;
    this.cursors.push(this.cursor);
    this.load(this.olderCursor);
  }

  goNewer() {
    if (this.cursors.length === 0) return;
    this.load(this.cursors.pop());
  }

  render() {
    const ctx = this.ctx;
    const shown = this.items.filter((event) =>
      matchesSearch(this.filters.q, [event.threat_type, ctx.i18n.threat(event.threat_type), event.camera_id, ctx.cameras.nameOf(event.camera_id), event.agent_id, ...event.detections.map((d) => d.label)]),
    );
    replaceChildren(
      this.tbody,
      shown.length ? shown.map((event) => this.row(event)) : h("tr", { className: "empty-row" }, h("td", { colSpan: 8, className: "muted", text: ctx.i18n.t("history.empty") })),
    );
    this.newer.disabled = this.cursors.length === 0;
    this.older.disabled = this.olderCursor === null;
    this.pageInfo.textContent = ctx.i18n.t("history.page", this.cursors.length + 1, shown.length);
  }

  row(event) {
    const ctx = this.ctx;
    const top = event.detections.reduce((best, detection) => (detection.score > best.score ? detection : best));
    return h(
      "tr",
      { className: `severity-row-${event.severity}`, dataset: { eventId: String(event.id) } },
      h("td", { className: "num mono", text: String(event.id) }),
      h("td", {}, timeCell(event.captured_at, ctx.i18n)),
      h("td", {}, severityBadge(event.severity, ctx.i18n)),
      h("td", { text: ctx.i18n.threat(event.threat_type) }),
      h("td", {}, cameraLabel(event.camera_id, ctx)),
      h("td", { className: "mono", text: event.agent_id }),
      h("td", { text: `${top.label} ${Math.round(top.score * 100)} %` }),
      h("td", {}, coordinates(event.location.lat, event.location.lon, ctx)),
    );
  }
}
