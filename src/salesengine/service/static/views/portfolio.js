// The portfolio (the Funnel List's analysis of reps and teams, docs/portfolio.md): each
// rep's and team's funnel shape at T against the pyramid the policy expects, and the
// projection "if no new prospects are added, in one sales cycle" with its 80% bands.

import { ApiError, get } from "../api.js";
import { bandBars } from "../band_chart.js";
import { amount, count, escapeHtml as esc, percent } from "../format.js";
import { table } from "../tables.js";
import { meta } from "./common.js";

export const title = "Portfolio";
export const controls = ["as_of", "known_at", "policy", "owner", "team"];
const RUNS = 1000;

export async function load(params) {
  const asked = {
    as_of: params.as_of, known_at: params.known_at, policy: params.policy, owner: params.owner, team: params.team,
  };
  const [shape, projection] = await Promise.all([
    get("/reports/portfolio/shape", asked),
    // A projection may be refused on its own (no win in the window to take a sales cycle
    // from): the shape is still worth showing.
    get("/reports/portfolio/projection", { ...asked, runs: RUNS }).catch((e) => {
      if (e instanceof ApiError) return { error: e.message };
      throw e;
    }),
  ]);
  return { ...shape, projection };
}

const groupName = (g) => (g.level === "all" ? "all" : g.name ?? "(none)");

function stageCell(stage) {
  const least = stage.least === null ? "" : ` / ${count(stage.least)}`;
  const cls = stage.pyramid ? "" : ' class="not-pyramid"';
  const why = stage.least === null ? "" : ` title="needs at least ${stage.least} (${stage.basis})"`;
  return `<span${cls}${why} data-pyramid="${stage.pyramid}">${count(stage.deals)}${least}</span>`;
}

function shapeTable(doc, level) {
  const groups = doc.groups.filter((g) => g.level === level);
  const stages = doc.groups.length ? doc.groups[0].stages.map((s) => s.stage) : [];
  const columns = [
    { key: "name", label: level, format: (_, g) => esc(groupName(g)) },
    { key: "open", label: "open", num: true, format: count },
    { key: "pyramid", label: "pyramid", format: (v, g) => (v ? "yes" : `<span class="not-pyramid">no: ${esc(g.not_pyramid.join(", "))}</span>`) },
    ...stages.map((s, i) => ({ key: `stage_${i}`, label: s, num: true, format: (_, g) => stageCell(g.stages[i]) })),
  ];
  const rowAttrs = (g) => `data-level="${esc(g.level)}" data-name="${esc(g.name ?? "")}" data-pyramid="${g.pyramid}"`;
  return table(columns, groups, { testid: `shape-${level}`, rowAttrs });
}

function conversions(doc) {
  const rows = Object.entries(doc.conversions).map(([stage, c]) => ({ stage, c }));
  return table([{ key: "stage", label: "stage" }, { key: "c", label: "conversion", num: true, format: percent }], rows, { testid: "shape-conversions" });
}

function projectionCard(p) {
  if (p.error) return `<div class="card"><h3>Projection</h3><div class="notice" data-testid="projection-error">${esc(p.error)}</div></div>`;
  const w = p.window;
  let html = `<div class="card"><h3>If no new prospects are added: open deals in one sales cycle (${esc(p.horizon_days.toFixed(1))} days, ${esc(p.horizon)})</h3>`;
  html += `<p class="meta" data-testid="projection-runs">${count(p.runs)} runs, seed ${esc(p.seed)}; stage exits read from ${esc(w.from.slice(0, 10))} to ${esc(w.to.slice(0, 10))}. A funnel empties when the band's upper end is at most ${percent(p.empty_share)} of its open deals now.</p>`;
  html += `<div class="legend"><span><i style="background:#2f6fdf;opacity:.5"></i>80% band (p10 to p90)</span><span>tick: mean</span><span>dot: open now</span></div>`;
  const rows = (groups) => groups.map((g) => ({
    label: groupName(g),
    now: g.open_now,
    band: g.open,
    text: `now ${g.open_now} → ${g.open.p10.toFixed(1)} to ${g.open.p90.toFixed(1)} open${g.empties ? " · empties" : ""}`,
  }));
  // Reps on a scale of their own: beside a team's or the whole funnel, a rep's is a sliver.
  html += `<h3>Per rep</h3>` + bandBars(rows(p.groups.filter((g) => g.level === "rep")), { title: "Open deals per rep at the horizon, 80% band", nowLabel: "open now" });
  html += `<h3>Per team, and all</h3>` + bandBars(rows(p.groups.filter((g) => g.level !== "rep")), { title: "Open deals per team at the horizon, 80% band", nowLabel: "open now", color: "#2a9d8f" });
  const band = (b) => `${b.mean.toFixed(1)} <span class="meta">[${b.p10.toFixed(1)}, ${b.p90.toFixed(1)}]</span>`;
  html += table([
    { key: "level", label: "level" }, { key: "name", label: "name", format: (_, g) => esc(groupName(g)) },
    { key: "open_now", label: "open now", num: true, format: count },
    { key: "open", label: "open at horizon", num: true, format: band },
    { key: "won", label: "won", num: true, format: band }, { key: "lost", label: "lost", num: true, format: band },
    { key: "won_amount", label: "won amount (mean)", num: true, format: (b) => amount(b.mean.toFixed(2)) },
    { key: "empties", label: "empties", format: (v) => (v ? '<span class="not-pyramid">yes</span>' : "no") },
  ], p.groups, { testid: "projection-table", rowAttrs: (g) => `data-level="${esc(g.level)}" data-name="${esc(g.name ?? "")}"` });
  return html + `</div>`;
}

export function render(doc) {
  let html = `<h2>Portfolio: <span data-testid="portfolio-policy">${esc(doc.policy)}</span> in ${esc(doc.currency)}</h2>`;
  html += meta(doc, ` · pyramid from the conversions of ${esc(doc.conversion_from.name)}`);
  html += `<div class="card"><h3>Funnel shape per rep: open deals / the fewest the pyramid asks of each stage</h3>`;
  html += `<p class="meta">A stage must hold at least the next stage's deals divided by its own conversion, so that it feeds the next at the rate it converts. Highlighted: stages short of it.</p>`;
  html += shapeTable(doc, "rep") + `<h3>Per team</h3>` + shapeTable(doc, "team") + `<h3>All</h3>` + shapeTable(doc, "all");
  html += `</div><div class="cols"><div class="card"><h3>Conversions of ${esc(doc.conversion_from.name)}</h3>${conversions(doc)}</div>`;
  const periods = doc.periods.map((p) => p.name + (p.partial ? " (to T)" : ""));
  const news = doc.groups.filter((g) => g.level !== "all").map((g) => ({ level: g.level, name: groupName(g), ...Object.fromEntries(g.new.map((n, i) => [`p${i}`, n.deals])) }));
  html += `<div class="card"><h3>New deals per period</h3>${table([
    { key: "level", label: "level" }, { key: "name", label: "name" },
    ...periods.map((label, i) => ({ key: `p${i}`, label, num: true, format: (v) => count(v ?? 0) })),
  ], news, { testid: "shape-new" })}</div></div>`;
  return html + projectionCard(doc.projection);
}
