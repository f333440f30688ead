// Vigie control room: the shell (navigation, language, live stream, alarm) and the view router.
// Views: #/live, #/incident/<id>, #/history, #/fleet, #/playbooks, #/users.

import { Alarm } from "./alarm.js";
import { api, goToLogin } from "./api.js";
import { h, options, replaceChildren } from "./dom.js";
import * as fleet from "./fleet.js";
import { errorBox } from "./format.js";
import * as history from "./history.js";
import { LANGUAGES, Translator, pickLanguage, saveLanguage } from "./i18n.js";
import * as incident from "./incident.js";
import * as live from "./live.js";
import * as playbooks from "./playbooks.js";
import { EventStream } from "./stream.js";
import * as users from "./users.js";

const ROLE_RANK = { viewer: 0, dispatcher: 1, admin: 2 };
const TOAST_MS = 3500;
// [route name, view module, role needed, label key]; the order of the navigation bar.
const ROUTES = [
  ["live", live, "viewer", "nav.live"],
  ["history", history, "viewer", "nav.history"],
  ["fleet", fleet, "viewer", "nav.fleet"],
  ["playbooks", playbooks, "viewer", "nav.playbooks"],
  ["users", users, "admin", "nav.users"],
];

/** Camera names by id, read from /api/cameras and re-read when an unknown camera shows up. */
class CameraDirectory {
  constructor() {
    this.names = new Map();
    this.pending = null;
  }

  async refresh() {
    this.pending ??= api("api/cameras")
      .then((page) => {
        this.names = new Map(page.items.map((camera) => [camera.id, camera.name]));
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }

  nameOf(cameraId) {
    return this.names.get(cameraId) ?? cameraId;
  }

  knows(cameraId) {
    return this.names.has(cameraId);
  }

  ids() {
    return [...this.names.keys()].sort();
  }
}

class ControlRoom {
  constructor(me, config) {
    this.me = me;
    this.config = config;
    this.cameras = new CameraDirectory();
    this.view = null;
    this.i18n = new Translator(pickLanguage(window.localStorage));
    this.alarm = new Alarm({
      banner: document.getElementById("alarm"),
      text: document.getElementById("alarm-text"),
      dismiss: document.getElementById("alarm-dismiss"),
      muteButton: document.getElementById("mute"),
      storage: window.localStorage,
    });
  }

  get context() {
    return {
      i18n: this.i18n,
      me: this.me,
      config: this.config,
      cameras: this.cameras,
      canAct: ROLE_RANK[this.me.role] >= ROLE_RANK.dispatcher,
      isAdmin: this.me.role === "admin",
      alarm: this.alarm,
      toast: (text, kind) => this.toast(text, kind),
    };
  }

  async start() {
    await this.cameras.refresh();
    const language = document.getElementById("language");
    language.value = this.i18n.language;
    language.addEventListener("change", () => {
      saveLanguage(window.localStorage, language.value);
      this.i18n = new Translator(language.value);
      this.translateShell();
      this.route();
    });
    document.getElementById("logout").addEventListener("click", () => this.logout());
    window.addEventListener("hashchange", () => this.route());
    this.translateShell();
    this.route();
  }

  translateShell() {
    const t = (key, ...args) => this.i18n.t(key, ...args);
    document.documentElement.lang = this.i18n.language;
    document.getElementById("language-label").textContent = t("shell.language");
    document.getElementById("logout").textContent = t("shell.logout");
    replaceChildren(
      document.getElementById("whoami"),
      h("span", { className: "who", text: this.me.username }),
      h("span", { className: `badge role role-${this.me.role}`, text: t(`role.${this.me.role}`) }),
    );
    const nav = document.getElementById("nav");
    replaceChildren(
      nav,
      ROUTES.filter(([, , role]) => this.allowed(role)).map(([name, , , label]) =>
        h("a", { href: `#/${name}`, dataset: { route: name }, text: t(label) }),
      ),
    );
    this.alarm.translate(this.i18n);
    this.showConnection(document.getElementById("connection").dataset.state);
    const select = document.getElementById("language");
    replaceChildren(select, options(LANGUAGES.map((code) => [code, code.toUpperCase()]), this.i18n.language));
  }

  allowed(role) {
    return ROLE_RANK[this.me.role] >= ROLE_RANK[role];
  }

  route() {
    const [name = "live", argument] = window.location.hash.replace(/^#\/?/, "").split("/");
    this.view?.unmount?.();
    const root = document.getElementById("view");
    replaceChildren(root);
    for (const link of document.querySelectorAll("#nav a")) {
      link.classList.toggle("active", link.dataset.route === (name === "incident" ? "live" : name));
    }
    if (name === "incident") {
      this.view = incident.mount(this.context, root, argument);
      return;
    }
    const entry = ROUTES.find(([route]) => route === name) ?? ROUTES[0];
    if (!this.allowed(entry[2])) {
      root.append(errorBox(this.i18n.t("shell.forbidden")));
      this.view = null;
      return;
    }
    document.title = `${this.i18n.t(entry[3])} — Vigie`;
    this.view = entry[1].mount(this.context, root);
  }

  receive(message) {
    if (message.type === "incident") {
      const data = message.data;
      if (data.camera_id && !this.cameras.knows(data.camera_id)) this.cameras.refresh();
      this.alarm.consider(data, data.camera_id ? this.cameras.nameOf(data.camera_id) : data.agent_id);
    }
    this.view?.onMessage?.(message);
  }

  showConnection(state) {
    const node = document.getElementById("connection");
    node.dataset.state = state;
    node.textContent = this.i18n.t(`connection.${state}`);
  }

  async logout() {
    try {
      await api("api/auth/logout", { method: "POST" });
    } finally {
      goToLogin();
    }
  }

  toast(text, kind = "info") {
    const node = document.getElementById("toast");
    node.textContent = text;
    node.dataset.kind = kind;
    node.hidden = false;
    window.clearTimeout(this.toastTimer);
    this.toastTimer = window.setTimeout(() => {
      node.hidden = true;
    }, TOAST_MS);
  }
}

async function main() {
  let me;
  let config;
  try {
    [me, config] = await Promise.all([api("api/auth/me"), api("admin/config.json")]);
  } catch (error) {
    document.getElementById("view").append(errorBox(String(error.message)));
    return;
  }
  const room = new ControlRoom(me, config);
  await room.start();
  const stream = new EventStream({
    onMessage: (message) => room.receive(message),
    onState: (state) => room.showConnection(state),
    // Refused: the session probably ended; asking who we are sends a 401 to the login page.
    onRefused: () => api("api/auth/me").catch(() => {}),
  });
  stream.connect();
}

main();
