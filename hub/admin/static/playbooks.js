// Playbooks: per threat type, the severity, the perimeter and the ordered actions; admins edit.

import { api } from "./api.js";
import { h, options, replaceChildren } from "./dom.js";
import { SEVERITIES, errorBox, severityBadge, timeCell } from "./format.js";

const THREAT_TYPE_PATTERN = "^[a-z][a-z0-9_]{0,31}$";

/** Mount the playbooks view in `root`. */
export function mount(ctx, root) {
  const list = h("div", { className: "cards", id: "playbooks" });
  const section = h("section", { className: "playbooks" });
  if (ctx.isAdmin) section.append(newPlaybookForm(ctx, () => load(ctx, list)));
  section.append(list);
  root.append(section);
  load(ctx, list);
  return {};
}

async function load(ctx, list) {
  try {
    const page = await api("api/playbooks");
    replaceChildren(list, page.items.map((playbook) => card(ctx, playbook)));
  } catch (error) {
    replaceChildren(list, errorBox(error.message));
  }
}

function card(ctx, playbook) {
  const t = (key, ...args) => ctx.i18n.t(key, ...args);
  const editable = ctx.isAdmin;
  const severity = h(
    "select",
    { name: "severity", disabled: !editable },
    options(SEVERITIES.map((value) => [value, t(`severity.${value}`)]), playbook.severity),
  );
  const perimeter = h("input", { name: "perimeter_m", type: "number", min: 1, max: 10000, step: 1, value: playbook.perimeter_m, disabled: !editable });
  const actions = h("textarea", { name: "actions", rows: Math.max(3, playbook.actions.length + 1), value: playbook.actions.join("\n"), disabled: !editable });
  const save = editable
    ? h("button", {
        type: "submit",
        text: t("playbooks.save"),
      })
    : null;
  const form = h(
    "form",
    {
      className: "panel playbook",
      dataset: { threatType: playbook.threat_type },
      on: {
        submit: async (event) => {
          event.preventDefault();
          const saved = await savePlaybook(ctx, playbook.threat_type, {
            severity: severity.value,
            perimeter_m: Number(perimeter.value),
            actions: actions.value.split("\n").map((line) => line.trim()).filter(Boolean),
          });
          // Show what the hub stored (and who changed it when).
          if (saved) form.replaceWith(card(ctx, saved));
        },
      },
    },
    h(
      "header",
      { className: "panel-head" },
      h("h2", { text: ctx.i18n.threat(playbook.threat_type) }),
      h("code", { className: "muted", text: playbook.threat_type }),
      severityBadge(playbook.severity, ctx.i18n),
    ),
    h(
      "div",
      { className: "panel-body form-grid" },
      h("label", { className: "field" }, h("span", { className: "field-label", text: t("col.severity") }), severity),
      h("label", { className: "field" }, h("span", { className: "field-label", text: t("playbooks.perimeter") }), perimeter),
      h("label", { className: "field wide" }, h("span", { className: "field-label", text: t("playbooks.actions") }), actions),
      h("p", { className: "muted wide" }, t("playbooks.updated", playbook.updated_by), " ", timeCell(playbook.updated_at, ctx.i18n)),
      save,
    ),
  );
  return form;
}

async function savePlaybook(ctx, threatType, spec) {
  try {
    const saved = await api(`api/playbooks/${encodeURIComponent(threatType)}`, { method: "PUT", body: spec });
    ctx.toast(ctx.i18n.t("playbooks.saved", threatType));
    return saved;
  } catch (error) {
    ctx.toast(error.message, "error");
    return null;
  }
}

function newPlaybookForm(ctx, reload) {
  const t = (key) => ctx.i18n.t(key);
  const type = h("input", { name: "threat_type", required: true, pattern: THREAT_TYPE_PATTERN, placeholder: "e.g. drone", maxLength: 32 });
  return h(
    "form",
    {
      className: "toolbar",
      id: "new-playbook",
      on: {
        submit: async (event) => {
          event.preventDefault();
          const spec = { severity: "medium", perimeter_m: 50, actions: [t("playbooks.firstAction")] };
          if (await savePlaybook(ctx, type.value.trim(), spec)) {
            type.value = "";
            reload();
          }
        },
      },
    },
    h("label", { className: "field" }, h("span", { className: "field-label", text: t("playbooks.newType") }), type),
    h("button", { type: "submit", text: t("playbooks.add") }),
  );
}
