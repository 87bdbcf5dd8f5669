// Anomalies at T known at K (docs/metrics.md, "Anomalies"): entry criteria that no longer
// hold, moves that skip stages, backdated entries and stale deals, each with its evidence
// and since when; filtered by kind here, each row a link to the deal's replay.

import { get } from "../api.js";
import { count, escapeHtml as esc, instant } from "../format.js";
import { table } from "../tables.js";
import { dealLink, meta } from "./common.js";

export const title = "Anomalies";
// Rows drawn at most: a store's anomalies can run to thousands; the counts say how many.
const SHOWN = 200;
export const controls = ["as_of", "known_at", "kind", "policy", "owner", "team"];
const KINDS = ["criteria_lapsed", "probability_jump", "backdated", "over_stage_limit", "no_next_step", "next_step_overdue"];

export async function load(params) {
  return get("/reports/anomalies", {
    as_of: params.as_of, known_at: params.known_at, policy: params.policy, owner: params.owner, team: params.team,
  });
}

const words = (kind) => kind.replaceAll("_", " ");
const at = (v) => (v ? instant(v) : "–");

/** A row's evidence in one line, as the command line prints it. */
export function describe(a) {
  const e = a.evidence;
  const event = `v${e.version} by ${e.actor}, recorded ${at(e.recorded_at)}`;
  if (a.kind === "criteria_lapsed") {
    const how = e.event !== "retract" ? `recorded as ${JSON.stringify(e.value)}` : e.reason ? `retracted (${e.reason})` : "retracted";
    return `${e.criterion} (required by ${e.required_by}) ${how}: ${event}`;
  }
  if (a.kind === "probability_jump") {
    return `${e.move} ${e.from} → ${e.to}, skipping ${e.skipped.join(", ")}: ${e.from_probability}% → ${e.to_probability}% (+${e.jump}); ${event}`;
  }
  if (a.kind === "backdated") {
    return `${e.event} recorded ${Number(e.delay_days).toFixed(1)} days after its effective time (over ${e.threshold_days}): ${event}`;
  }
  if (a.kind === "over_stage_limit") return `${Number(e.days_in_stage).toFixed(1)} days in ${e.stage}, limit ${e.max_days}`;
  if (a.kind === "next_step_overdue") return `"${e.action}" was due ${at(e.due)}`;
  return `no open next step in ${e.stage}`;
}

export function render(doc, params) {
  const chosen = params.kind || "";
  const rows = chosen ? doc.rows.filter((r) => r.kind === chosen) : doc.rows;
  let html = `<h2>Anomalies</h2>${meta(doc, ` · backdated after ${esc(doc.backdated_after.days)} days`)}`;
  const counts = KINDS.map((k) => ({ kind: k, rows: doc.counts[k] ?? 0 }));
  html += `<div class="cols"><div class="card"><h3>Per kind (choose one to list it alone)</h3>${table([
    { key: "kind", label: "kind", format: (v) => `<a href="#" data-kind="${esc(v)}" data-testid="kind-link">${esc(words(v))}</a>` },
    { key: "rows", label: "rows", num: true, format: count },
  ], counts, { testid: "anomaly-counts", rowAttrs: (r) => `data-kind="${esc(r.kind)}"${r.kind === chosen ? ' class="active"' : ""}` })}</div>`;
  const events = Object.entries(doc.backdated_events).map(([event, n]) => ({ event, n }));
  html += `<div class="card"><h3>Backdated entries per event kind</h3>${table([
    { key: "event", label: "event" }, { key: "n", label: "entries", num: true, format: count },
  ], events, { testid: "anomaly-backdated-events", empty: "No backdated entries." })}</div></div>`;
  const heading = (chosen ? `${words(chosen)} (${rows.length})` : `Every anomaly (${rows.length})`)
    + (rows.length > SHOWN ? `, the first ${SHOWN} by kind and since when` : "");
  html += `<div class="card"><h3 data-testid="anomaly-heading">${esc(heading)}</h3>${table([
    { key: "deal", label: "deal", format: (v) => dealLink(v) }, { key: "kind", label: "kind", format: (v) => esc(words(v)) },
    { key: "owner", label: "owner" }, { key: "team", label: "team" }, { key: "position", label: "position" },
    { key: "since", label: "since", format: (v) => esc(instant(v)) },
    { key: "evidence", label: "evidence", format: (_, r) => esc(describe(r)) },
  ], rows.slice(0, SHOWN), { testid: "anomaly-rows", rowAttrs: (r) => `class="clickable" data-deal="${esc(r.deal)}" data-kind="${esc(r.kind)}"`, empty: "No anomalies." })}</div>`;
  return html;
}

/** A kind's link filters the list (into the URL); a row's click opens the deal's replay. */
export function after(root, _doc, params, ctx) {
  for (const a of root.querySelectorAll("[data-testid=kind-link]")) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      ctx.apply({ ...params, kind: a.dataset.kind }, { rerenderControls: true });
    });
  }
  for (const tr of root.querySelectorAll("tr[data-deal]")) {
    tr.addEventListener("click", (e) => {
      if (e.target.closest("a")) return;
      ctx.navigate(`#/deal/${encodeURIComponent(tr.dataset.deal)}`);
    });
  }
}
