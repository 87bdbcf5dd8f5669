// Quotas & V: per rep and team, the quota for the period, what was won, what remains, the
// weighted pipeline due by the period's end and the V value, the pipeline over the
// remaining quota (docs/metrics.md, "V value"): at 1 or above the pipeline covers what is
// left to win; below 1 it does not (highlighted). And where each quota came from.

import { get } from "../api.js";
import { groupedBars } from "../charts.js";
import { amount, count, escapeHtml as esc, instant } from "../format.js";
import { table } from "../tables.js";
import { meta } from "./common.js";

export const title = "Quotas & V";
export const controls = ["as_of", "known_at", "period"];

export async function load(params) {
  const asked = { as_of: params.as_of, known_at: params.known_at };
  const vvalue = await get("/reports/vvalue", { ...asked, period: params.period });
  const quotas = await get("/quotas", { ...asked, period: vvalue.period.name });
  return { ...vvalue, quotas: quotas.quotas };
}

/** The V value's standing against its threshold of 1. */
export function standing(row) {
  if (row.met) return "met";
  if (row.v === null || row.v === undefined) return "none";
  return Number(row.v) >= 1 ? "covered" : "short";
}

const WORDS = { met: "quota met", covered: "covered (V ≥ 1)", short: "short (V < 1)", none: "no quota" };
const COLORS = { met: "#2a9d5b", covered: "#2a9d5b", short: "#d0453b", none: "#9aa3b2" };

function vCell(v, row) {
  const s = standing(row);
  const text = s === "met" ? "met" : v === null || v === undefined ? "–" : esc(v);
  return `<span class="v-${s}" data-standing="${s}" title="${esc(WORDS[s])}">${text}</span>`;
}

const subject = (v, row) => esc(v ?? (row.kind === "team" ? "(no team)" : "(no owner)"));
const money = (v) => (v === null || v === undefined ? "–" : amount(v));

function quotaCell(v, row) {
  if (v === null || v === undefined) return "–";
  return row.quota_source === "reps" ? `${amount(v)}<sup title="the sum of its reps' quotas">*</sup>` : amount(v);
}

export function render(doc) {
  const p = doc.period;
  let html = `<h2>Quotas &amp; V value for <span data-testid="v-period">${esc(p.name)}</span></h2>`;
  html += meta(doc, ` · period [${esc(instant(p.from))}, ${esc(instant(p.to))})`);
  for (const problem of doc.problems) html += `<p class="notice info">${esc(problem)}</p>`;
  const bars = doc.rows.filter((r) => r.v !== null && r.v !== undefined).map((r) => ({
    label: `${r.kind} ${r.subject ?? "(none)"}`,
    bars: [{ value: Number(r.v), color: COLORS[standing(r)], text: `V ${r.v}` }],
  }));
  html += `<div class="card"><h3>V per rep and team: the pipeline due in the period over the remaining quota</h3>`;
  html += `<div class="legend"><span><i style="background:#2a9d5b"></i>V ≥ 1: the weighted pipeline covers what is left to win</span><span><i style="background:#d0453b"></i>V &lt; 1: short of it</span><span>dashed line: V = 1</span></div>`;
  html += `${groupedBars(bars, { title: "V value per subject", target: 1 })}</div>`;
  const columns = [
    { key: "kind", label: "kind" }, { key: "subject", label: "subject", format: subject },
    { key: "currency", label: "currency" },
    { key: "quota", label: "quota", num: true, format: quotaCell },
    { key: "won", label: "won", num: true, format: money }, { key: "won_deals", label: "won deals", num: true, format: count },
    { key: "remaining_quota", label: "remaining", num: true, format: money },
    { key: "pipeline", label: "weighted pipeline", num: true, format: money },
    { key: "pipeline_deals", label: "deals", num: true, format: count },
    { key: "undated", label: "no close date", num: true, format: count },
    { key: "later", label: "due later", num: true, format: count },
    { key: "v", label: "V", num: true, format: vCell },
  ];
  const rowAttrs = (r) => `data-kind="${esc(r.kind)}" data-subject="${esc(r.subject ?? "")}" data-standing="${standing(r)}"`;
  html += `<div class="card"><h3>Per rep and team</h3>${table(columns, doc.rows, { testid: "v-table", rowAttrs, empty: "No quotas or deals for this period." })}`;
  html += `<p class="meta">Weighted pipeline: open deals expected to close by the period's end, each weighted by its stage's probability. Deals without a close date or due after the period are counted aside. *: a team without a quota of its own, summed from its reps'.</p></div>`;
  html += `<div class="card"><h3>Quotas for ${esc(p.name)}</h3>${table([
    { key: "kind", label: "kind" }, { key: "subject", label: "subject" },
    { key: "amount", label: "quota", num: true, format: money }, { key: "currency", label: "currency" },
    { key: "source", label: "from", format: (v, r) => esc(v === "reps" ? `reps: ${r.reps.join(", ")}` : v) },
  ], doc.quotas, { testid: "quota-table", empty: "No quota you may read for this period." })}</div>`;
  return html;
}
