// Pipeline health at T known at K: grades, a summary per owner (or group), the stale
// deals and the overdue contacts (each a link to the deal's replay), and each rep's
// visits a week against the target of 12.

import { get } from "../api.js";
import { groupedBars } from "../charts.js";
import { amount, count, days, escapeHtml as esc, instant } from "../format.js";
import { table } from "../tables.js";
import { dealLink, meta } from "./common.js";

export const title = "Health";
export const controls = ["as_of", "known_at", "by", "policy", "owner", "team"];

export async function load(params) {
  return get("/reports/health", {
    as_of: params.as_of, known_at: params.known_at, by: params.by, policy: params.policy, owner: params.owner, team: params.team,
  });
}

function visitsChart(visits) {
  const reps = new Map();
  for (const v of visits) {
    if (!reps.has(v.rep)) reps.set(v.rep, []);
    reps.get(v.rep).push(v);
  }
  const target = visits.length ? visits[0].target : 12;
  const rows = [...reps].map(([rep, weeks]) => ({
    label: rep,
    bars: weeks.map((w) => ({
      value: w.effective,
      color: w.met ? "#2a9d5b" : w.partial ? "#9aa3b2" : "#e07b39",
      text: `${w.week}: ${w.effective} effective of ${w.visits} visits${w.partial ? " (week not over)" : ""}`,
    })),
  }));
  return `<div class="legend"><span><i style="background:#2a9d5b"></i>target met</span><span><i style="background:#e07b39"></i>below target</span><span><i style="background:#9aa3b2"></i>week not over</span><span>dashed line: ${target} a week</span></div>` + groupedBars(rows, { title: "Effective visits per rep and week", target });
}

export function render(doc, params) {
  const by = params.by || "owner";
  const link = (v) => dealLink(v);
  const clickable = (r) => `class="clickable" data-deal="${esc(r.deal)}"`;
  let html = `<h2>Pipeline health</h2>${meta(doc)}`;
  html += `<div class="cols"><div class="card"><h3>Grades</h3>${table([
    ...(params.by ? [{ key: params.by, label: params.by }] : []),
    { key: "grade", label: "grade" }, { key: "deals", label: "deals", num: true, format: count },
    { key: "amount", label: "amount", num: true, format: (v) => amount(v) }, { key: "currency", label: "currency" },
  ], doc.grades, { testid: "health-grades" })}</div>`;
  html += `<div class="card"><h3>Per ${esc(by)}</h3>${table([
    { key: by, label: by, format: (v) => (by === "owner" ? `<a href="#/deals?owner=${encodeURIComponent(v)}">${esc(v)}</a>` : esc(v)) },
    { key: "open", label: "open", num: true }, { key: "stale", label: "stale", num: true },
    { key: "no_next_step", label: "no next step", num: true }, { key: "next_step_overdue", label: "next step overdue", num: true },
    { key: "over_stage_limit", label: "over stage limit", num: true }, { key: "overdue_contacts", label: "overdue contacts", num: true },
  ], doc.summary, { testid: "health-summary" })}</div></div>`;
  html += `<div class="card"><h3>Stale deals (${doc.stale.length} of ${doc.stale_total}), longest in their stage first</h3>${table([
    { key: "deal", label: "deal", format: link }, { key: "owner", label: "owner" }, { key: "stage", label: "stage" },
    { key: "days_in_stage", label: "days in stage", num: true, format: days },
    { key: "reasons", label: "why", format: (v) => esc((v || []).join(", ").replaceAll("_", " ")) },
    { key: "next_due", label: "next step due", format: (v) => esc(instant(v)) },
  ], doc.stale, { testid: "health-stale", rowAttrs: clickable, empty: "No stale deals." })}</div>`;
  html += `<div class="card"><h3>Overdue contacts (${doc.overdue_contacts.length} of ${doc.overdue_contacts_total})</h3>${table([
    { key: "deal", label: "deal", format: link }, { key: "owner", label: "owner" }, { key: "stage", label: "stage" },
    { key: "grade", label: "grade" }, { key: "last_contact", label: "last contact", format: (v) => esc(instant(v)) },
    { key: "days_since", label: "days since", num: true, format: days }, { key: "cadence_days", label: "cadence (days)", num: true },
  ], doc.overdue_contacts, { testid: "health-overdue", rowAttrs: clickable, empty: "No overdue contacts." })}</div>`;
  html += `<div class="card"><h3>Visits per rep against the weekly target</h3>${visitsChart(doc.visits)}${table([
    { key: "rep", label: "rep" }, { key: "week", label: "week" }, { key: "visits", label: "visits", num: true },
    { key: "effective", label: "effective", num: true }, { key: "target", label: "target", num: true },
    { key: "met", label: "met", format: (v, r) => (r.partial ? "week not over" : v ? "yes" : "no") },
  ], doc.visits, { testid: "health-visits" })}</div>`;
  return html;
}

/** A click anywhere on a stale or overdue row opens that deal's replay. */
export function after(root, _doc, _params, ctx) {
  for (const tr of root.querySelectorAll("tr[data-deal]")) {
    tr.addEventListener("click", (e) => {
      if (e.target.closest("a")) return;
      ctx.navigate(`#/deal/${encodeURIComponent(tr.dataset.deal)}`);
    });
  }
}
