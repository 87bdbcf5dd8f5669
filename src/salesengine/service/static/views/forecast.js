// The forecast at T known at K: the weighted pipeline, and the open deals expected to
// close in each of the next four weeks, beside those already overdue and those later.

import { get } from "../api.js";
import { hbars } from "../charts.js";
import { amount, count, escapeHtml as esc, shortAmount } from "../format.js";
import { table } from "../tables.js";
import { groupOf, meta } from "./common.js";

export const title = "Forecast";
export const controls = ["as_of", "known_at", "by", "policy", "owner", "team"];

export async function load(params) {
  return get("/reports/forecast", {
    as_of: params.as_of, known_at: params.known_at, by: params.by, policy: params.policy, owner: params.owner, team: params.team,
  });
}

const money = (v) => amount(v);

export function render(doc, params) {
  const by = params.by || "";
  let html = `<h2>Forecast: the next four weeks</h2>${meta(doc)}`;
  const weekBars = doc.weeks.map((w) => ({
    label: by ? `${w.week} · ${groupOf(w, by)}` : `${w.week} (from ${w.starts})`,
    value: Number(w.weighted),
    text: `${count(w.deals)} deals · ${shortAmount(w.amount)} · weighted ${shortAmount(w.weighted)} ${w.currency}`,
  }));
  html += `<div class="card"><h3>Weighted amount expected to close, per week</h3>${hbars(weekBars, { title: "Forecast per week" })}</div>`;
  const groupCol = by ? [{ key: by, label: by }] : [];
  const cols = [
    { key: "deals", label: "deals", num: true, format: count },
    { key: "amount", label: "amount", num: true, format: money },
    { key: "weighted", label: "weighted", num: true, format: money },
    { key: "currency", label: "currency" },
  ];
  html += `<div class="cols">`;
  html += `<div class="card"><h3>Weeks</h3>${table([{ key: "week", label: "week" }, { key: "starts", label: "starts" }, ...groupCol, ...cols], doc.weeks, { testid: "forecast-weeks", rowAttrs: (r) => `data-week="${esc(r.week)}"` })}</div>`;
  html += `<div class="card"><h3>Weighted pipeline (all open deals)</h3>${table([{ key: "policy", label: "policy" }, ...groupCol, ...cols], doc.weighted_pipeline, { testid: "forecast-pipeline" })}`;
  html += `<h3>Outside the four weeks</h3>${table([{ key: "bucket", label: "expected close" }, ...groupCol, ...cols], doc.outside, { testid: "forecast-outside" })}</div>`;
  return html + `</div>`;
}
