// Fleet health: agents and cameras, online or offline, with their last figures; long outages flagged.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { errorBox, timeCell } from "./format.js";

/** Mount the fleet view in `root`. */
export function mount(ctx, root) {
  const view = new FleetView(ctx, root);
  view.start();
  return { onMessage: (message) => view.receive(message), unmount: () => view.stop() };
}

class FleetView {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.root = root;
    this.timer = null;
    this.stopped = false;
    this.agents = h("tbody", { id: "agent-rows" });
    this.cameras = h("tbody", { id: "camera-rows" });
    this.summary = h("div", { className: "summary", id: "fleet-summary" });
    this.problem = h("div");
  }

  start() {
    const t = (key) => this.ctx.i18n.t(key);
    const headings = (keys) => h("thead", {}, h("tr", {}, keys.map((key) => h("th", { scope: "col", text: t(key) }))));
    this.root.append(
      h(
        "section",
        { className: "fleet" },
        this.summary,
        this.problem,
        h(
          "section",
          { className: "panel" },
          h("header", { className: "panel-head" }, h("h2", { text: t("fleet.agents") })),
          h(
            "div",
            { className: "table-wrap" },
            h(
              "table",
              { className: "grid", id: "agents" },
              headings(["col.agent", "col.state", "col.since", "fleet.lastHeartbeat", "fleet.version", "fleet.queue", "fleet.uptime", "fleet.cpu"]),
              this.agents,
            ),
          ),
        ),
        h(
          "section",
          { className: "panel" },
          h("header", { className: "panel-head" }, h("h2", { text: t("fleet.cameras") })),
          h(
            "div",
            { className: "table-wrap" },
            h(
              "table",
              { className: "grid", id: "cameras" },
              headings(["col.camera", "col.agent", "col.state", "col.since", "fleet.lastSeen", "fleet.fps", "fleet.inference", "col.position"]),
              this.cameras,
            ),
          ),
        ),
      ),
    );
    this.refresh();
    this.timer = window.setInterval(() => this.refresh(), this.ctx.config.fleet_refresh_s * 1000);
  }

  stop() {
    this.stopped = true;
    window.clearInterval(this.timer);
  }

  receive(message) {
    // Outages and recoveries arrive as health incidents: show them at once.
    if (message.type === "incident" && message.data.source === "health") this.refresh();
  }

  async refresh() {
    let agents;
    let cameras;
    try {
      [agents, cameras] = await Promise.all([api("api/agents"), api("api/cameras")]);
    } catch (error) {
      replaceChildren(this.problem, errorBox(error.message));
      return;
    }
    if (this.stopped) return;
    replaceChildren(this.problem);
    const now = Date.now();
    replaceChildren(this.agents, agents.items.length ? agents.items.map((agent) => this.agentRow(agent, now)) : this.emptyRow(8));
    const flagged = cameras.items.filter((camera) => this.longOffline(camera, now));
    replaceChildren(
      this.cameras,
      cameras.items.length ? cameras.items.map((camera) => this.cameraRow(camera, now, flagged.includes(camera))) : this.emptyRow(8),
    );
    this.renderSummary(agents.items, cameras.items, flagged.length);
  }

  longOffline(camera, now) {
    return camera.state === "offline" && now - new Date(camera.since).getTime() > this.ctx.config.camera_offline_alert_s * 1000;
  }

  renderSummary(agents, cameras, flagged) {
    const t = (key, ...args) => this.ctx.i18n.t(key, ...args);
    const online = (items) => items.filter((item) => item.state === "online").length;
    replaceChildren(
      this.summary,
      tile(t("fleet.agentsOnline"), `${online(agents)} / ${agents.length}`, online(agents) < agents.length ? "warn" : "ok"),
      tile(t("fleet.camerasOnline"), `${online(cameras)} / ${cameras.length}`, online(cameras) < cameras.length ? "warn" : "ok"),
      tile(t("fleet.longOutages", Math.round(this.ctx.config.camera_offline_alert_s / 60)), String(flagged), flagged ? "alert" : "ok"),
    );
  }

  agentRow(agent, now) {
    const i18n = this.ctx.i18n;
    const health = agent.last_health ?? {};
    return h(
      "tr",
      { dataset: { agentId: agent.id, state: agent.state } },
      h("td", { className: "mono", text: agent.id }),
      h("td", {}, stateBadge(agent.state, i18n)),
      h("td", {}, timeCell(agent.state_since, i18n)),
      h("td", {}, agent.last_heartbeat_at ? h("span", { title: agent.last_heartbeat_at, text: i18n.ago(agent.last_heartbeat_at, now) }) : "—"),
      h("td", { text: agent.version ?? "—" }),
      h("td", { className: "num", text: health.queue_depth ?? "—" }),
      h("td", { className: "num", text: health.uptime_s === undefined ? "—" : i18n.duration(health.uptime_s) }),
      h("td", { className: "num", text: health.cpu_load === undefined ? "—" : health.cpu_load.toFixed(2) }),
    );
  }

  cameraRow(camera, now, flagged) {
    const ctx = this.ctx;
    const i18n = ctx.i18n;
    const health = camera.last_health ?? {};
    const state = h("td", {}, stateBadge(camera.state, i18n));
    if (flagged) state.append(h("span", { className: "badge flag", text: i18n.t("fleet.longOutage", i18n.duration((now - new Date(camera.since).getTime()) / 1000)) }));
    return h(
      "tr",
      { className: flagged ? "flagged" : "", dataset: { cameraId: camera.id, state: camera.state, flagged: String(flagged) } },
      h("td", {}, h("span", { className: "camera-name", text: camera.name }), h("small", { className: "muted block", text: camera.id })),
      h("td", { className: "mono", text: camera.agent_id }),
      state,
      h("td", {}, timeCell(camera.since, i18n)),
      h("td", {}, h("span", { title: camera.last_seen, text: i18n.ago(camera.last_seen, now) })),
      h("td", { className: "num", text: health.fps === undefined ? "—" : health.fps.toFixed(1) }),
      h("td", { className: "num", text: health.inference_ms === undefined || health.inference_ms === null ? "—" : i18n.t("unit.ms", health.inference_ms.toFixed(0)) }),
      h("td", { className: "mono", text: camera.lat === null ? "—" : `${camera.lat.toFixed(5)}, ${camera.lon.toFixed(5)}` }),
    );
  }

  emptyRow(columns) {
    return h("tr", { className: "empty-row" }, h("td", { colSpan: columns, className: "muted", text: this.ctx.i18n.t("fleet.empty") }));
  }
}

function stateBadge(state, i18n) {
  return h("span", { className: `badge state state-${state}`, text: i18n.t(`state.${state}`) });
}

function tile(label, value, tone) {
  return h("div", { className: `tile tone-${tone}` }, h("span", { className: "tile-value", text: value }), h("span", { className: "tile-label", text: label }));
}
