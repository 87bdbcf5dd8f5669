// The dashboard: sign-in with a bearer token, a view per report chosen by the URL's
// hash (#/funnel?as_of=...&by=owner: a view can be bookmarked and shared), and a poll of
// /api/v1/status every two seconds that redraws the view when new events have arrived.

import { ApiError, AuthError, clearToken, freshness, get, setToken, token } from "./api.js";
import * as controls from "./controls.js";
import { escapeHtml as esc, iso } from "./format.js";
import * as account from "./views/account.js";
import * as accounts from "./views/accounts.js";
import * as anomalies from "./views/anomalies.js";
import * as compare from "./views/compare.js";
import * as conversion from "./views/conversion.js";
import * as cycle from "./views/cycle.js";
import * as deals from "./views/deals.js";
import * as forecast from "./views/forecast.js";
import * as funnel from "./views/funnel.js";
import * as health from "./views/health.js";
import * as portfolio from "./views/portfolio.js";
import * as quotas from "./views/quotas.js";
import * as replay from "./views/replay.js";
import * as review from "./views/review.js";

const VIEWS = {
  funnel, compare, conversion, "cycle-time": cycle, forecast, health, deals, deal: replay,
  accounts, account, review,
  quotas, portfolio, anomalies,
};
// The views that show one thing named in the path (#/deal/KEY, #/account/KEY).
const KEYED = ["deal", "account"];
// What a role must be allowed (GET /api/v1/me "actions") to see each view.
const NEEDS = { deal: "read_history" };
const POLL_MS = 2000;
const DAY = 24 * 3600 * 1000;

const $ = (id) => document.getElementById(id);
const state = {
  me: null, policies: [], route: "funnel", params: {}, generation: 0, lastSeen: null, timer: null, poller: null,
};

function notice(message, kind = "error") {
  const box = $("notice");
  if (!message) { box.hidden = true; box.textContent = ""; return; }
  box.className = `notice${kind === "info" ? " info" : ""}`;
  box.textContent = message;
  box.hidden = false;
}

function query(params) {
  // Encoded as parseHash decodes (a space as %20, not "+"), so a bookmarked owner
  // "Li Wei" reads back as written.
  const text = Object.entries(params)
    .filter(([k, v]) => v !== undefined && v !== null && v !== "" && k !== "key")
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  return text ? `?${text}` : "";
}

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, q = ""] = hash.split("?");
  // Decoded by hand: URLSearchParams would read the "+" of an offset (+00:00) as a space.
  const params = {};
  for (const part of q.split("&")) {
    if (!part) continue;
    const [name, value = ""] = part.split("=");
    params[decodeURIComponent(name)] = decodeURIComponent(value);
  }
  let route = path || defaultRoute();
  for (const keyed of KEYED) {
    if (route.startsWith(`${keyed}/`)) {
      params.key = decodeURIComponent(route.slice(keyed.length + 1));
      route = keyed;
    }
  }
  return { route, params };
}

function hashOf(route, params) {
  const base = KEYED.includes(route) && params.key ? `${route}/${encodeURIComponent(params.key)}` : route;
  return `#/${base}${query(params)}`;
}

function allowed(route) {
  const need = NEEDS[route] || "read_deals";
  return Boolean(state.me && state.me.actions.includes(need));
}

function defaultRoute() {
  if (!state.me) return "funnel";
  return allowed("funnel") ? "funnel" : allowed("deal") ? "deal" : "funnel";
}

/** Windows and instants a view needs and the person has not chosen yet. */
function withDefaults(route, params) {
  const p = { ...params };
  const today = new Date(Math.floor(Date.now() / DAY) * DAY);
  if ((route === "conversion" || route === "cycle-time") && !p.from && !p.until) {
    p.until = iso(new Date(today.getTime() + DAY)).slice(0, 10);
    p.from = iso(new Date(today.getTime() - 90 * DAY)).slice(0, 10);
  }
  if (route === "compare" && !p.as_of) p.as_of = iso(new Date(controls.anchor().getTime() - 7 * DAY));
  return p;
}

function renderNav() {
  const nav = $("nav");
  const items = [["funnel", "Funnel"], ["compare", "Compare"], ["conversion", "Conversion"], ["cycle-time", "Cycle time"],
    ["forecast", "Forecast"], ["health", "Health"], ["deals", "Deals"], ["deal", "Deal replay"],
    ["accounts", "Accounts"], ["review", "Review"], ["quotas", "Quotas & V"], ["portfolio", "Portfolio"],
    ["anomalies", "Anomalies"]];
  nav.innerHTML = items.filter(([r]) => allowed(r))
    .map(([r, label]) => `<a href="#/${r}" data-route="${r}" data-testid="nav-${r}">${esc(label)}</a>`).join("");
  nav.hidden = false;
}

function markNav() {
  // An account's page is reached from the accounts list: that item stays marked.
  const current = state.route === "account" ? "accounts" : state.route;
  for (const a of $("nav").querySelectorAll("a")) a.classList.toggle("active", a.dataset.route === current);
}

function renderControls() {
  const view = VIEWS[state.route];
  const box = $("controls");
  box.innerHTML = controls.render(view.controls, state.params, { policies: state.policies });
  controls.wire(box, () => state.params, apply);
}

/** New params from a control: into the URL (without a history entry) and onto the page. */
function apply(params, opts = {}) {
  const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== "" && v !== undefined && v !== null));
  if (!opts.keepCursor) delete clean.cursor;
  if (KEYED.includes(state.route) && params.key) clean.key = params.key;
  state.params = clean;
  history.replaceState(null, "", hashOf(state.route, clean));
  if (opts.rerenderControls) renderControls();
  clearTimeout(state.timer);
  if (opts.debounce) state.timer = setTimeout(() => show(), 150);
  else show();
}

const ctx = {
  navigate: (hash) => { location.hash = hash; },
  apply,
  query,
};

/** Load the view's report and draw it; a response that a newer request overtook is dropped. */
async function show({ quiet = false } = {}) {
  const view = VIEWS[state.route];
  const root = $("view");
  const generation = ++state.generation;
  root.dataset.state = "loading";
  if (!quiet) root.classList.add("loading");
  let doc;
  try {
    doc = await view.load(state.params);
  } catch (e) {
    if (generation !== state.generation) return;
    root.classList.remove("loading");
    if (e instanceof AuthError) { signOut(`Your token was refused: ${e.message} Sign in again with a valid token.`); return; }
    failed(root, view, e.message);
    return;
  }
  if (generation !== state.generation) return;
  try {
    root.innerHTML = view.render(doc, state.params);
    view.after?.(root, doc, state.params, ctx);
  } catch (e) {
    // Said on the page rather than left loading for good; the next change redraws it.
    failed(root, view, `This view could not be drawn: ${e.message}`);
    return;
  }
  root.classList.remove("loading");
  // What the view shows, for whoever reads the page by script (the browser tests).
  root.dataset.asOf = doc?.as_of ?? doc?.view?.as_of ?? "";
  root.dataset.knownAt = doc?.known_at ?? doc?.view?.known_at ?? "";
  root.dataset.position = freshness.position ?? "";
  root.dataset.state = "ready";
}

function failed(root, view, message) {
  root.classList.remove("loading");
  root.innerHTML = `<h2>${esc(view.title)}</h2><div class="notice" data-testid="view-error" role="alert">${esc(message)}</div>`;
  root.dataset.state = "error";
}

function route() {
  const { route: r, params } = parseHash();
  if (!VIEWS[r] || !allowed(r)) {
    location.replace(`#/${defaultRoute()}`);
    return;
  }
  state.route = r;
  state.params = withDefaults(r, params);
  markNav();
  renderControls();
  show();
}

async function poll() {
  if (!token()) return;
  try {
    const status = await get("/status");
    const behind = (status.read_models || []).reduce((s, m) => s + (m.behind || 0), 0);
    $("live").textContent = `log ${status.log_position}${behind ? ` · read models ${behind} behind` : " · up to date"}`;
    const seen = `${status.log_position}:${behind}`;
    // A change seen while the view is still loading is kept for the next poll, not
    // marked seen: the load under way may have read the read models before it. On the
    // first poll, with the first view still loading, nothing counts as seen yet.
    const loading = $("view").dataset.state === "loading";
    if (state.lastSeen === null) state.lastSeen = loading ? "" : seen;
    else if (seen !== state.lastSeen && !loading) {
      state.lastSeen = seen;
      show({ quiet: true });
    }
  } catch (e) {
    if (e instanceof AuthError) signOut(`Your token was refused: ${e.message} Sign in again with a valid token.`);
    else $("live").textContent = `offline: ${e.message}`;
  }
}

function signOut(message) {
  clearToken();
  clearInterval(state.poller);
  state.me = null;
  state.lastSeen = null;
  $("main").hidden = true;
  $("who").hidden = true;
  $("nav").hidden = true;
  $("sign-in").hidden = false;
  $("token").value = "";
  notice(message || "");
  $("token").focus();
}

async function signIn() {
  notice("");
  let me;
  try {
    me = await get("/me");
  } catch (e) {
    if (e instanceof AuthError) signOut(`That token was refused (${e.message}). Check it, or ask for a new one: salesengine token create.`);
    else signOut(e instanceof ApiError ? `The server refused: ${e.message}` : String(e));
    return;
  }
  state.me = me;
  try {
    state.policies = (await get("/policies")).policies || [];
  } catch {
    state.policies = [];
  }
  $("who-name").textContent = me.name;
  $("who-role").textContent = me.role;
  $("who-scope").textContent = me.scope;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("main").hidden = false;
  renderNav();
  route();
  clearInterval(state.poller);
  state.poller = setInterval(poll, POLL_MS);
  poll();
}

function start() {
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("token").value.trim();
    if (!text) { notice("Paste a token first."); return; }
    setToken(text);
    signIn();
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", () => { if (state.me) route(); });
  if (token()) signIn();
  else signOut("");
}

start();
