// Conversion and drop-off per stage for the deals that first entered it in [F, U).

import { get } from "../api.js";
import { hbars } from "../charts.js";
import { count, escapeHtml as esc, percent } from "../format.js";
import { groupBy, table } from "../tables.js";
import { groupOf, meta } from "./common.js";

export const title = "Conversion";
export const controls = ["from", "until", "known_at", "by", "policy"];

export async function load(params) {
  return get("/reports/conversion", { from: params.from, until: params.until, known_at: params.known_at, by: params.by, policy: params.policy });
}

export function render(doc, params) {
  const by = params.by || "";
  let html = `<h2>Conversion and drop-off</h2>${meta(doc, ` · cohorts entering a stage in [${esc(doc.from?.slice(0, 10))}, ${esc((doc.to || doc.until || "").slice(0, 10))})`)}`;
  for (const [name, rows] of groupBy(doc.rows, (r) => r.policy)) {
    const bars = rows.map((r) => ({
      label: by ? `${groupOf(r, by)} · ${r.stage}` : r.stage,
      value: r.conversion ?? 0,
      text: `${percent(r.conversion)} advanced (${r.advanced}/${r.cohort}) · drop-off ${percent(r.drop_off)} · ${r.open} open`,
    }));
    html += `<div class="card"><h3>${esc(name)}</h3>${hbars(bars, { title: "Conversion per stage" })}</div>`;
  }
  const columns = [
    ...(by ? [{ key: by, label: by }] : []),
    { key: "policy", label: "policy" },
    { key: "stage", label: "stage" },
    { key: "cohort", label: "cohort", num: true, format: count },
    { key: "advanced", label: "advanced", num: true, format: count },
    { key: "lost", label: "lost", num: true, format: count },
    { key: "open", label: "open", num: true, format: count },
    { key: "conversion", label: "conversion", num: true, format: percent },
    { key: "drop_off", label: "drop-off", num: true, format: percent },
  ];
  return html + `<div class="card">${table(columns, doc.rows, { testid: "conversion-table", rowAttrs: (r) => `data-stage="${esc(r.stage)}"` })}</div>`;
}
