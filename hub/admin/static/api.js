// The hub's HTTP API as the panel calls it: same-origin session cookie, CSRF header on writes.

const CSRF_COOKIE = "vigie_csrf";
const LOGIN_PAGE = "../login";

/** An answer other than 2xx: its HTTP status and the server's explanation (shown as text). */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** The absolute URL of a hub path such as "api/incidents", relative to the hub's root. */
export function hubUrl(path, params) {
  const url = new URL(`../${path}`, window.location.href);
  if (params) url.search = params.toString();
  return url;
}

/** Send the browser to the login page, coming back here afterwards. */
export function goToLogin() {
  const login = new URL(LOGIN_PAGE, window.location.href);
  login.searchParams.set("next", window.location.pathname + window.location.search + window.location.hash);
  window.location.assign(login.href);
}

function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(value.join("="));
  }
  return "";
}

function detailText(body, status) {
  const detail = body?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => `${(item.loc ?? []).slice(1).join(".")}: ${item.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

/** JSON from the hub; ApiError when it refuses; the login page when the session ended. */
export async function api(path, { method = "GET", params, body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(hubUrl(path, params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    goToLogin();
    throw new ApiError(401, "authentication required");
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) throw new ApiError(response.status, detailText(parsed, response.status));
  return parsed;
}
