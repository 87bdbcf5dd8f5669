// Stage durations: days spent in each stage by the stays that ended in [F, U), and days
// to win for the deals won then.

import { get } from "../api.js";
import { hbars } from "../charts.js";
import { count, days, escapeHtml as esc } from "../format.js";
import { groupBy, table } from "../tables.js";
import { groupOf, meta } from "./common.js";

export const title = "Cycle time";
export const controls = ["from", "until", "known_at", "by", "policy"];

export async function load(params) {
  return get("/reports/cycle-time", { from: params.from, until: params.until, known_at: params.known_at, by: params.by, policy: params.policy });
}

export function render(doc, params) {
  const by = params.by || "";
  let html = `<h2>Stage durations (cycle time)</h2>${meta(doc, ` · stays ending in [${esc(doc.from?.slice(0, 10))}, ${esc((doc.to || doc.until || "").slice(0, 10))})`)}`;
  for (const [name, rows] of groupBy(doc.rows, (r) => r.policy)) {
    const bars = rows.map((r) => ({
      label: by ? `${groupOf(r, by)} · ${r.stage}` : r.stage,
      value: r.median_days ?? 0,
      text: `median ${days(r.median_days)} d · mean ${days(r.mean_days)} · p90 ${days(r.p90_days)} · ${r.count} stays`,
    }));
    html += `<div class="card"><h3>${esc(name)} (the last row: days to win)</h3>${hbars(bars, { title: "Median days per stage" })}</div>`;
  }
  const columns = [
    ...(by ? [{ key: by, label: by }] : []),
    { key: "policy", label: "policy" },
    { key: "stage", label: "stage" },
    { key: "count", label: "stays", num: true, format: count },
    { key: "median_days", label: "median days", num: true, format: days },
    { key: "mean_days", label: "mean days", num: true, format: days },
    { key: "p90_days", label: "p90 days", num: true, format: days },
  ];
  return html + `<div class="card">${table(columns, doc.rows, { testid: "cycle-table", rowAttrs: (r) => `data-stage="${esc(r.stage)}"` })}</div>`;
}
