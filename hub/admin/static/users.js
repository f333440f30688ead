// Users (admins only): create, change role, disable or enable.

import { api } from "./api.js";
import { h, options, replaceChildren } from "./dom.js";
import { errorBox, timeCell } from "./format.js";

const ROLES = ["viewer", "dispatcher", "admin"];

/** Mount the users view in `root`. */
export function mount(ctx, root) {
  const rows = h("tbody", { id: "user-rows" });
  const t = (key) => ctx.i18n.t(key);
  root.append(
    h(
      "section",
      { className: "users" },
      createForm(ctx, () => load(ctx, rows)),
      h(
        "section",
        { className: "panel" },
        h("header", { className: "panel-head" }, h("h2", { text: t("nav.users") })),
        h(
          "div",
          { className: "table-wrap" },
          h(
            "table",
            { className: "grid", id: "users" },
            h("thead", {}, h("tr", {}, ["users.username", "users.role", "col.state", "users.createdAt", "users.actions"].map((key) => h("th", { text: t(key) })))),
            rows,
          ),
        ),
      ),
    ),
  );
  load(ctx, rows);
  return {};
}

async function load(ctx, rows) {
  try {
    const users = await api("api/users");
    replaceChildren(rows, users.map((user) => row(ctx, user, () => load(ctx, rows))));
  } catch (error) {
    replaceChildren(rows, h("tr", {}, h("td", { colSpan: 5 }, errorBox(error.message))));
  }
}

async function update(ctx, user, change, reload) {
  try {
    await api(`api/users/${user.id}`, { method: "PATCH", body: change });
    ctx.toast(ctx.i18n.t("users.saved", user.username));
  } catch (error) {
    ctx.toast(error.message, "error");
  }
  reload();
}

function row(ctx, user, reload) {
  const t = (key) => ctx.i18n.t(key);
  const role = h(
    "select",
    { name: "role", on: { change: () => update(ctx, user, { role: role.value }, reload) } },
    options(ROLES.map((value) => [value, t(`role.${value}`)]), user.role),
  );
  const toggle = h("button", {
    type: "button",
    className: user.disabled ? "secondary" : "danger",
    dataset: { toggle: user.disabled ? "enable" : "disable" },
    text: t(user.disabled ? "users.enable" : "users.disable"),
    on: { click: () => update(ctx, user, { disabled: !user.disabled }, reload) },
  });
  const self = user.id === ctx.me.id;
  return h(
    "tr",
    { className: user.disabled ? "disabled" : "", dataset: { username: user.username } },
    h("td", {}, h("span", { className: "mono", text: user.username }), self ? h("small", { className: "muted", text: ` (${t("users.you")})` }) : null),
    h("td", {}, role),
    h("td", {}, h("span", { className: `badge state state-${user.disabled ? "offline" : "online"}`, text: t(user.disabled ? "users.disabled" : "users.enabled") })),
    h("td", {}, timeCell(user.created_at, ctx.i18n)),
    h("td", {}, toggle),
  );
}

function createForm(ctx, reload) {
  const t = (key) => ctx.i18n.t(key);
  const username = h("input", { id: "new-username", name: "username", required: true, autocomplete: "off", maxLength: 64 });
  const password = h("input", { id: "new-password", name: "password", type: "password", required: true, minLength: 8, autocomplete: "new-password" });
  const role = h("select", { id: "new-role", name: "role" }, options(ROLES.map((value) => [value, t(`role.${value}`)]), "viewer"));
  const form = h(
    "form",
    {
      className: "toolbar",
      id: "new-user",
      on: {
        submit: async (event) => {
          event.preventDefault();
          try {
            await api("api/users", { method: "POST", body: { username: username.value, password: password.value, role: role.value } });
            ctx.toast(ctx.i18n.t("users.created", username.value));
            form.reset();
            reload();
          } catch (error) {
            ctx.toast(error.message, "error");
          }
        },
      },
    },
    h("label", { className: "field" }, h("span", { className: "field-label", text: t("users.username") }), username),
    h("label", { className: "field" }, h("span", { className: "field-label", text: t("users.password") }), password),
    h("label", { className: "field" }, h("span", { className: "field-label", text: t("users.role") }), role),
    h("button", { type: "submit", text: t("users.create") }),
  );
  return form;
}
