// The filter bar shared by the live view and the history: type, severity, camera, time, search.

import { h, options } from "./dom.js";
import { SEVERITIES } from "./format.js";

// Time windows offered, in seconds ("" = no limit).
export const WINDOWS = [
  ["900", "window.15m"],
  ["3600", "window.1h"],
  ["21600", "window.6h"],
  ["86400", "window.24h"],
  ["604800", "window.7d"],
  ["", "window.all"],
];

/** A labelled <select>. */
export function selectField(id, label, pairs, selected, onChange) {
  const select = h("select", { id, on: { change: () => onChange(select.value) } }, options(pairs, selected));
  return h("label", { className: "field" }, h("span", { className: "field-label", text: label }), select);
}

/** The type, severity, camera and time-window selects and the search box, calling onChange(state). */
export function filterBar(ctx, threatTypes, state, onChange, extra = []) {
  const t = (key) => ctx.i18n.t(key);
  const update = (key) => (value) => onChange({ ...state, [key]: value });
  const search = h("input", {
    id: "filter-search",
    type: "search",
    value: state.q,
    placeholder: t("filters.searchHint"),
    on: { input: () => onChange({ ...state, q: search.value }, true) },
  });
  return h(
    "div",
    { className: "toolbar", attrs: { role: "search" } },
    ...extra,
    selectField(
      "filter-type",
      t("filters.type"),
      [["", t("filters.any")], ...threatTypes.map((type) => [type, ctx.i18n.threat(type)])],
      state.type,
      update("type"),
    ),
    selectField(
      "filter-severity",
      t("filters.severity"),
      [["", t("filters.any")], ...SEVERITIES.map((severity) => [severity, t(`severity.${severity}`)])],
      state.severity,
      update("severity"),
    ),
    selectField(
      "filter-camera",
      t("filters.camera"),
      [["", t("filters.any")], ...ctx.cameras.ids().map((id) => [id, ctx.cameras.nameOf(id)])],
      state.camera,
      update("camera"),
    ),
    selectField(
      "filter-window",
      t("filters.window"),
      WINDOWS.map(([value, key]) => [value, t(key)]),
      state.window,
      update("window"),
    ),
    h("label", { className: "field grow" }, h("span", { className: "field-label", text: t("filters.search") }), search),
  );
}

/** The instant a time window starts at (ISO), or null for no limit. */
export function windowStart(windowSeconds) {
  if (!windowSeconds) return null;
  return new Date(Date.now() - Number(windowSeconds) * 1000).toISOString();
}

/** True when every word of the query appears in one of the texts (case and accents ignored). */
export function matchesSearch(query, texts) {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = fold(texts.filter(Boolean).join(" "));
  return words.every((word) => haystack.includes(word));
}

function fold(text) {
  return String(text).normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase();
}

/** The threat types with a playbook (without the generic one), for the type filter. */
export function threatTypesOf(playbooks) {
  return playbooks.items.map((playbook) => playbook.threat_type).filter((type) => type !== "generic").sort();
}
