// The funnel at T known at K: a bar per stage with its deals and amount, or split by
// team, owner, region, policy or size: one stacked bar per group, a segment per open stage.

import { get } from "../api.js";
import { hbars, legend, stacked } from "../charts.js";
import { amount, count, escapeHtml as esc, shortAmount } from "../format.js";
import { groupBy, table } from "../tables.js";
import { CLOSED, groupOf, meta } from "./common.js";

export const title = "Funnel";
export const controls = ["as_of", "known_at", "by", "policy"];

export async function load(params) {
  return get("/reports/funnel", { as_of: params.as_of, known_at: params.known_at, by: params.by, policy: params.policy });
}

function stageChart(rows) {
  return hbars(rows.map((r, i) => ({
    label: r.stage,
    value: r.deals,
    text: `${count(r.deals)} deals · ${shortAmount(r.amount)} (weighted ${shortAmount(r.weighted)})`,
    color: CLOSED.has(r.stage) ? ["#2a9d5b", "#d0453b", "#9aa3b2"][["won", "lost", "abandoned"].indexOf(r.stage)] : undefined,
    testid: `bar-${r.stage}`,
  })), { title: "Deals per stage" });
}

function groupChart(rows, by) {
  const stages = [...new Set(rows.map((r) => r.stage))].filter((s) => !CLOSED.has(s));
  const groups = groupBy(rows, (r) => groupOf(r, by));
  const bars = [...groups].map(([group, rs]) => {
    const open = rs.filter((r) => !CLOSED.has(r.stage));
    const deals = open.reduce((s, r) => s + r.deals, 0);
    const amt = open.reduce((s, r) => s + Number(r.amount), 0);
    const won = rs.filter((r) => r.stage === "won").reduce((s, r) => s + r.deals, 0);
    return {
      label: group,
      total: `${count(deals)} open · ${shortAmount(amt)} · ${won} won`,
      segments: open.map((r) => ({ key: r.stage, value: r.deals, short: String(r.deals), text: `${r.deals} deals · ${amount(r.amount)}` })),
    };
  });
  return legend(stages) + stacked(bars, stages, { title: `Open deals per stage, by ${by}` });
}

export function render(doc, params) {
  const by = params.by || "";
  const sections = groupBy(doc.rows, (r) => `${r.policy} · ${r.currency}`);
  let html = `<h2>Funnel</h2>${meta(doc)}`;
  if (!doc.rows.length) html += `<p class="empty">No deals in this funnel.</p>`;
  for (const [name, rows] of sections) {
    html += `<div class="card"><h3>${esc(name)}</h3>${by ? groupChart(rows, by) : stageChart(rows)}</div>`;
  }
  const columns = [
    ...(by ? [{ key: by, label: by }] : []),
    { key: "policy", label: "policy" },
    { key: "stage", label: "stage" },
    { key: "deals", label: "deals", num: true, format: (v) => count(v) },
    { key: "amount", label: "amount", num: true, format: (v) => amount(v) },
    { key: "weighted", label: "weighted", num: true, format: (v) => amount(v) },
    { key: "currency", label: "currency" },
  ];
  html += `<div class="card">${table(columns, doc.rows, {
    testid: "funnel-table",
    rowAttrs: (r) => `data-policy="${esc(r.policy)}" data-stage="${esc(r.stage)}" data-group="${esc(groupOf(r, by))}" data-currency="${esc(r.currency)}"`,
    empty: "No deals.",
  })}</div>`;
  return html;
}
