// Vigie login page: posts the credentials as JSON, then goes to the page that sent the user here.
// Labels follow the browser's language (French or English); server messages are shown as text only.

const LABELS = Object.freeze({
  en: Object.freeze({
    title: "Vigie — sign in",
    username: "User name",
    password: "Password",
    submit: "Sign in",
    signingIn: "Signing in…",
    wrong: "Wrong user name or password.",
    throttled: (seconds) => `Too many failed attempts. Try again in ${seconds} s.`,
    invalid: "Enter a user name and a password.",
    unreachable: "The hub cannot be reached. Try again.",
    failed: (status) => `Sign-in failed (HTTP ${status}).`,
  }),
  fr: Object.freeze({
    title: "Vigie — connexion",
    username: "Nom d'utilisateur",
    password: "Mot de passe",
    submit: "Se connecter",
    signingIn: "Connexion…",
    wrong: "Nom d'utilisateur ou mot de passe incorrect.",
    throttled: (seconds) => `Trop d'échecs. Réessayez dans ${seconds} s.`,
    invalid: "Saisissez un nom d'utilisateur et un mot de passe.",
    unreachable: "Le hub est injoignable. Réessayez.",
    failed: (status) => `Échec de la connexion (HTTP ${status}).`,
  }),
});
const DEFAULT_NEXT = "map/";

/** The first of the browser's preferred languages this page speaks, else English. */
function pickLanguage() {
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    const base = String(tag ?? "").toLowerCase().split("-")[0];
    if (Object.hasOwn(LABELS, base)) return base;
  }
  return "en";
}

/** Where to go after signing in: the `next` parameter if it is a path of this site, else the map. */
function nextLocation() {
  const fallback = new URL(DEFAULT_NEXT, window.location.href);
  const requested = new URLSearchParams(window.location.search).get("next");
  // Only a plain local path: "//host", "/\\host" or "https://…" would leave the site.
  if (!requested || !requested.startsWith("/") || requested.startsWith("//") || requested.includes("\\")) {
    return fallback.href;
  }
  const target = new URL(requested, window.location.origin);
  return target.origin === window.location.origin ? target.href : fallback.href;
}

/** The text of a failed answer, from its status (never markup from the server). */
async function failureText(response, labels) {
  if (response.status === 401) return labels.wrong;
  if (response.status === 422) return labels.invalid;
  if (response.status === 429) {
    const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    return labels.throttled(Number.isFinite(seconds) ? seconds : 60);
  }
  try {
    const body = await response.json();
    if (typeof body?.detail === "string") return body.detail;
  } catch {
    // Not JSON: the status says enough.
  }
  return labels.failed(response.status);
}

function main() {
  const language = pickLanguage();
  const labels = LABELS[language];
  document.documentElement.lang = language;
  document.title = labels.title;
  for (const node of document.querySelectorAll("[data-label]")) {
    node.textContent = labels[node.dataset.label];
  }

  const form = document.getElementById("login-form");
  const message = document.getElementById("login-message");
  const submit = document.getElementById("login-submit");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    message.textContent = labels.signingIn;
    submit.disabled = true;
    try {
      const response = await fetch("api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: data.get("username"), password: data.get("password") }),
        credentials: "same-origin",
      });
      if (response.ok) {
        window.location.assign(nextLocation());
        return;
      }
      message.textContent = await failureText(response, labels);
    } catch {
      message.textContent = labels.unreachable;
    } finally {
      submit.disabled = false;
    }
  });
  document.getElementById("login-username").focus();
}

main();
