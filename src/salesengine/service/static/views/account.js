// One account at T known at K: its fields, RAD cell, grade and cadence; the decision
// chain drawn as the reporting lines (each person under their superior, with their role
// and their support for us); its activities, the latest first; and the caller's deals
// naming it, each a link to the deal's replay.

import { get } from "../api.js";
import { amount, days, escapeHtml as esc, instant } from "../format.js";
import { table } from "../tables.js";
import { dealLink, meta } from "./common.js";

export const title = "Account";
export const controls = ["as_of", "known_at"];

export async function load(params) {
  if (!params.key) return null;
  const path = `/accounts/${encodeURIComponent(params.key)}`;
  const asked = { as_of: params.as_of, known_at: params.known_at };
  const [shown, chain] = await Promise.all([get(path, asked), get(`${path}/chain`, asked)]);
  return { ...shown, chain: chain.chain };
}

const SUPPORT_CLASS = { "-2": "against", "-1": "against", 0: "neutral", 1: "for", 2: "for" };

function person(c) {
  const support = `${c.support > 0 ? "+" : ""}${c.support}`;
  return `<span class="person" data-testid="chain-person" data-contact="${esc(c.contact)}">`
    + `<b>${esc(c.name)}</b>${c.title ? ` <span class="meta">${esc(c.title)}</span>` : ""} `
    + `<span class="role-tag" data-testid="chain-role">${esc(c.role.replaceAll("_", " "))}</span> `
    + `<span class="support ${SUPPORT_CLASS[c.support]}" data-testid="chain-support">${esc(c.support_name)} (${esc(support)})</span></span>`;
}

/** The chain's nodes (depth first, each superior before their reports) as nested lists. */
export function tree(nodes) {
  if (!nodes.length) return `<p class="empty" data-testid="chain-empty">No contact was recorded by then.</p>`;
  let html = "";
  let depth = -1;
  for (const node of nodes) {
    if (node.depth > depth) html += "<ul>".repeat(node.depth - depth);
    else html += "</li>" + "</ul></li>".repeat(depth - node.depth);
    html += `<li>${person(node.contact)}`;
    depth = node.depth;
  }
  html += "</li>" + "</ul></li>".repeat(depth) + "</ul>";
  return `<div class="org-chart" data-testid="chain-tree">${html}</div>`;
}

function fields(a) {
  const bp = a.buying_power === null ? "–" : `${amount(a.buying_power)} ${a.bp_currency ?? ""}`;
  const sow = a.share_of_wallet === null ? "–" : `${a.share_of_wallet}%`;
  const sources = { set: "set", deals: "from its open deals", no_open_deals: "no open deal" };
  const rows = [
    ["name", a.name], ["owner", a.owner], ["team", a.team], ["region", a.region], ["industry", a.industry],
    ["customer", a.customer], ["buying power (BP)", bp], ["share of wallet (SOW)", sow], ["RAD cell", a.rad || "unknown"],
    ["grade", `${a.grade} (${sources[a.grade_source]}), contact every ${a.cadence_days} days`],
    ["last contact", a.last_contact ? `${instant(a.last_contact)} (${days(a.days_since_contact)} days ago)${a.in_cadence ? "" : " · overdue"}` : "never"],
    ["opened", instant(a.opened_at)], ["recorded", a.recorded ? "yes" : "no: only named by deals (account adopt records it)"],
  ];
  return `<dl class="state-grid" data-testid="account-fields">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd data-field="${esc(k)}">${esc(v ?? "–")}</dd>`).join("")}</dl>`;
}

function keyForm(key) {
  return `<form data-testid="account-form" class="controls"><label>Account key<input name="account-key" data-testid="account-key" value="${esc(key || "")}" size="32" spellcheck="false"></label><button type="submit">Open</button></form>`;
}

export function render(doc, params) {
  if (!doc) return `<h2>Account</h2>${keyForm("")}<p class="empty">Enter an account's key, or open one from the accounts list.</p>`;
  const a = doc.account;
  const chain = doc.chain;
  const names = Object.fromEntries(chain.nodes.map((n) => [n.contact.contact, n.contact.name]));
  const roles = Object.entries(chain.by_role)
    .map(([role, people]) => `${role.replaceAll("_", " ")}: ${people.map((p) => names[p] ?? p).join(", ")}`).join(" · ");
  let html = `<h2><a href="#/accounts">Accounts</a> › <span data-testid="account-title">${esc(a.account)}</span></h2>${meta(doc)}${keyForm(params.key)}`;
  html += `<div class="cols"><div class="card"><h3>Account</h3>${fields(a)}</div>`;
  html += `<div class="card"><h3>Decision chain (${chain.nodes.length} present, ${chain.left.length} left)</h3>${tree(chain.nodes)}
    <p class="meta" data-testid="chain-roles">${esc(roles || "no role known")}</p>
    ${chain.left.length ? `<p class="meta">Left: ${chain.left.map((c) => `${esc(c.name)} (${esc(instant(c.left_at))})`).join(", ")}</p>` : ""}</div></div>`;
  html += `<div class="card"><h3>Activities (${a.activities.length}, the latest first)</h3>${table([
    { key: "at", label: "at", format: (v) => esc(instant(v)) }, { key: "kind", label: "kind" },
    { key: "effective", label: "effective", format: (v) => (v ? "yes" : "no") },
    { key: "on", label: "on", format: (v) => (v === "account" ? "account" : dealLink(v)) },
    { key: "actor", label: "by" }, { key: "attendees", label: "attendees", format: (v) => esc((v || []).join(", ")) },
    { key: "note", label: "note" },
  ], a.activities, { testid: "account-activities", empty: "No activity by then." })}</div>`;
  html += `<div class="card"><h3>Deals (${a.deals.length}, ${a.deals.filter((d) => d.open).length} open)</h3>${table([
    { key: "deal", label: "deal", format: (v) => dealLink(v) }, { key: "position", label: "stage or outcome" },
    { key: "grade", label: "grade" }, { key: "owner", label: "owner" },
    { key: "amount", label: "amount", num: true, format: (v) => amount(v) }, { key: "currency", label: "currency" },
    { key: "expected_close", label: "expected close" },
  ], a.deals, { testid: "account-deals", empty: "No deal of yours names it." })}</div>`;
  return html;
}

export function after(root, _doc, params, ctx) {
  root.querySelector("[data-testid=account-form]")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = e.target.querySelector("[name=account-key]").value.trim();
    if (key) ctx.navigate(`#/account/${encodeURIComponent(key)}${ctx.query({ ...params, key: undefined })}`);
  });
}
