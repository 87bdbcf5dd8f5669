// Two instants side by side: per stage, what entered and what left between T and T2,
// why it left (advanced, regressed, won, lost, abandoned), with the amounts.

import { get } from "../api.js";
import { diverging } from "../charts.js";
import { amount, count, escapeHtml as esc, instant, iso, shortAmount } from "../format.js";
import { groupBy, table } from "../tables.js";
import { groupOf, meta } from "./common.js";

export const title = "Compare";
export const controls = ["as_of", "to", "known_at", "by", "policy"];

export async function load(params) {
  return get("/reports/compare", { as_of: params.as_of, to: params.to || iso(new Date()), known_at: params.known_at, by: params.by, policy: params.policy });
}

const MOVES = ["start", "in", "out", "advanced", "regressed", "won", "lost", "abandoned", "end"];

export function render(doc, params) {
  const by = params.by || "";
  let html = `<h2>Compare</h2>${meta(doc, ` · compared with <span data-testid="report-to">${esc(instant(doc.compare))}</span>`)}`;
  const sections = groupBy(doc.rows, (r) => `${r.policy} · ${r.currency}`);
  for (const [name, rows] of sections) {
    const perStage = [...groupBy(rows, (r) => r.stage)].map(([stage, rs]) => {
      const sum = (k) => rs.reduce((s, r) => s + Number(r[k]), 0);
      return {
        label: stage,
        inValue: sum("in"),
        outValue: sum("out"),
        inText: `${sum("in")} · ${shortAmount(sum("in_amount"))}`,
        outText: `${sum("out")} · ${shortAmount(sum("out_amount"))}`,
      };
    });
    html += `<div class="card"><h3>${esc(name)}: moves in (T, T2]</h3>${diverging(perStage, { title: "Moves per stage" })}</div>`;
  }
  const columns = [
    ...(by ? [{ key: by, label: by }] : []),
    { key: "stage", label: "stage" },
    ...MOVES.map((m) => ({
      key: m,
      label: m,
      num: true,
      format: (v, r) => `${count(v)}<br><span class="meta">${amount(r[`${m}_amount`])}</span>`,
    })),
    { key: "currency", label: "currency" },
  ];
  html += `<div class="card">${table(columns, doc.rows, {
    testid: "compare-table",
    rowAttrs: (r) => `data-policy="${esc(r.policy)}" data-stage="${esc(r.stage)}" data-group="${esc(groupOf(r, by))}"`,
    empty: "No deals.",
  })}</div>`;
  return html;
}
