// Small shared pieces of the views: severity and status badges, coordinates, camera names.

import { h } from "./dom.js";

export const SEVERITIES = ["low", "medium", "high", "critical"];
export const STATUSES = ["new", "acknowledged", "dispatched", "resolved", "false_alarm"];
export const OPEN_STATUSES = ["new", "acknowledged", "dispatched"];
const COORDINATE_DECIMALS = 5;

/** A coloured severity badge. */
export function severityBadge(severity, i18n) {
  return h("span", { className: `badge severity-${severity}`, text: i18n.t(`severity.${severity}`) });
}

/** A status badge. */
export function statusBadge(status, i18n) {
  return h("span", { className: `badge status status-${status}`, dataset: { status }, text: i18n.t(`status.${status}`) });
}

/** "lat, lon" with five decimals (about a metre). */
export function coordinateText(lat, lon) {
  return `${Number(lat).toFixed(COORDINATE_DECIMALS)}, ${Number(lon).toFixed(COORDINATE_DECIMALS)}`;
}

/** The live map centred on a point: the URL shape the map page reads. */
export function mapFocusUrl(lat, lon) {
  const url = new URL("../map/", window.location.href);
  url.searchParams.set("focus", `${lat},${lon}`);
  return url.href;
}

/** Coordinates as text, a copy button and a link centring the live map there (or a dash). */
export function coordinates(lat, lon, ctx) {
  if (lat === null || lat === undefined || lon === null || lon === undefined) {
    return h("span", { className: "muted", text: "—" });
  }
  const text = coordinateText(lat, lon);
  const copy = h("button", {
    type: "button",
    className: "icon-button copy",
    title: ctx.i18n.t("coords.copy"),
    text: ctx.i18n.t("coords.copy"),
    on: {
      click: async (event) => {
        event.stopPropagation();
        try {
          await navigator.clipboard.writeText(text);
          ctx.toast(ctx.i18n.t("coords.copied", text));
        } catch {
          ctx.toast(ctx.i18n.t("coords.copyFailed"), "error");
        }
      },
    },
  });
  const link = h("a", {
    className: "map-link",
    href: mapFocusUrl(lat, lon),
    title: ctx.i18n.t("coords.onMap"),
    text: ctx.i18n.t("coords.onMap"),
    on: { click: (event) => event.stopPropagation() },
  });
  return h("span", { className: "coords" }, h("code", { className: "coords-text", text }), copy, link);
}

/** A camera's display name with its id underneath when they differ. */
export function cameraLabel(cameraId, ctx) {
  if (!cameraId) return h("span", { className: "muted", text: "—" });
  const name = ctx.cameras.nameOf(cameraId);
  if (name === cameraId) return h("span", { className: "camera-name", text: name });
  return h("span", { className: "camera-name", text: name }, h("small", { className: "muted block", text: cameraId }));
}

/** A <time> element with the local date and time, and the ISO instant as its datetime. */
export function timeCell(iso, i18n) {
  if (!iso) return h("span", { className: "muted", text: "—" });
  return h("time", { dateTime: iso, title: iso, text: i18n.dateTime(iso) });
}

/** An error shown in place of a view or a list. */
export function errorBox(message) {
  return h("div", { className: "error-box", role: "alert", text: message });
}
