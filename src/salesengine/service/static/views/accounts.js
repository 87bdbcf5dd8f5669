// The accounts at T known at K: each with its grade, RAD cell, owner, last contact and
// whether that contact is overdue for the grade's cadence, and the coverage (SOA) per rep
// and grade. A row opens the account: its contacts, decision chain, activities and deals.

import { get } from "../api.js";
import { count, days, escapeHtml as esc, instant, percent } from "../format.js";
import { table } from "../tables.js";
import { meta } from "./common.js";

export const title = "Accounts";
export const controls = ["as_of", "known_at", "owner", "team"];

const GRADES = ["A", "B", "C", "D"];
const CELLS = ["R1", "R2", "R3", "D1", "D2", "D3", "A1", "A2", "A3"];

export async function load(params) {
  const asked = {
    as_of: params.as_of, known_at: params.known_at, owner: params.owner, team: params.team, region: params.region,
  };
  const [list, coverage] = await Promise.all([
    get("/accounts", { ...asked, grade: params.grade, rad: params.rad }),
    get("/reports/coverage", asked),
  ]);
  return { ...list, coverage: coverage.coverage };
}

export function accountLink(key) {
  return `<a href="#/account/${encodeURIComponent(key)}" data-testid="account-link">${esc(key)}</a>`;
}

/** "overdue", "never" or "" for an account's last contact against its grade's cadence. */
export function contactState(row) {
  if (!row.last_contact) return "never";
  return row.in_cadence ? "" : "overdue";
}

function filters(params) {
  const pick = (name, label, values) => `<label>${esc(label)}<select name="${name}" data-testid="accounts-${name}">${
    [["", "any"], ...values.map((v) => [v, v])].map(([v, text]) => `<option value="${esc(v)}"${v === (params[name] || "") ? " selected" : ""}>${esc(text)}</option>`).join("")
  }</select></label>`;
  return `<form class="controls" data-testid="accounts-filters">${pick("grade", "Grade", GRADES)}${pick("rad", "RAD cell", CELLS)}
    <label>Region<input name="region" data-testid="accounts-region" value="${esc(params.region || "")}" size="14"></label></form>`;
}

export function render(doc, params) {
  const rows = doc.accounts;
  const late = rows.filter((r) => contactState(r)).length;
  let html = `<h2>Accounts</h2>${meta(doc, ` · <span data-testid="accounts-count">${count(rows.length)}</span> accounts, ${count(late)} not contacted within their cadence`)}`;
  html += filters(params);
  html += `<div class="card">${table([
    { key: "account", label: "account", format: (v) => accountLink(v) },
    { key: "name", label: "name" }, { key: "owner", label: "owner" }, { key: "team", label: "team" },
    { key: "grade", label: "grade", format: (v, r) => `${esc(v)}${r.grade_source === "set" ? "" : ' <span class="meta">derived</span>'}` },
    { key: "rad", label: "RAD", format: (v) => esc(v || "–") },
    { key: "last_contact", label: "last contact", format: (v) => esc(v ? instant(v) : "never") },
    { key: "days_since_contact", label: "days since", num: true, format: days },
    { key: "cadence_days", label: "cadence (days)", num: true },
    { key: "in_cadence", label: "overdue", format: (_v, r) => {
      const state = contactState(r);
      return state ? `<span class="overdue" data-testid="overdue">${state === "never" ? "never contacted" : "overdue"}</span>` : "";
    } },
    { key: "open_deals", label: "open deals", num: true },
    { key: "present_contacts", label: "contacts", num: true },
  ], rows, {
    testid: "accounts-table",
    rowAttrs: (r) => `class="clickable" data-account="${esc(r.account)}"`,
    empty: "No account matches (an account is yours by its owner or team, or through your deals).",
  })}</div>`;
  const c = doc.coverage;
  html += `<div class="card"><h3>Coverage (SOA): a named owner and a contact within the grade's cadence</h3>${table([
    { key: "owner", label: "owner", format: (v, r) => esc(r.grade === "all" ? "(all)" : v ?? "(none)") },
    { key: "grade", label: "grade" },
    { key: "cadence_days", label: "cadence", num: true, format: (v, r) => (r.grade === "all" ? "" : esc(v)) },
    { key: "accounts", label: "accounts", num: true }, { key: "named_owner", label: "named owner", num: true },
    { key: "in_cadence", label: "in cadence", num: true }, { key: "covered", label: "covered", num: true },
    { key: "never_contacted", label: "never contacted", num: true },
    { key: "coverage", label: "coverage", num: true, format: percent },
  ], [...c.rows, c.total], { testid: "coverage-table" })}</div>`;
  return html;
}

export function after(root, _doc, params, ctx) {
  for (const tr of root.querySelectorAll("tr[data-account]")) {
    tr.addEventListener("click", (e) => {
      if (e.target.closest("a")) return;
      ctx.navigate(`#/account/${encodeURIComponent(tr.dataset.account)}`);
    });
  }
  const form = root.querySelector("[data-testid=accounts-filters]");
  for (const field of form.querySelectorAll("select, input")) {
    field.addEventListener("change", () => ctx.apply({ ...params, [field.name]: field.value.trim() }));
  }
  form.addEventListener("submit", (e) => e.preventDefault());
}
