// The auditor's replay of one deal: every event with both clocks (when it happened,
// when it was recorded), who wrote it and from where, the stage path, and the deal as
// it stood at T as known at K. Events recorded after K stay listed but greyed out: what
// an auditor sees is what anyone could have known at K.

import { get } from "../api.js";
import { twoClocks } from "../charts.js";
import { amount, escapeHtml as esc, instant } from "../format.js";
import { meta } from "./common.js";

export const title = "Deal replay";
export const controls = ["as_of", "known_at"];

export async function load(params) {
  if (!params.key) return null;
  const path = `/deals/${encodeURIComponent(params.key)}/history`;
  // Everything recorded, to list the events known later too; then the deal at T known at K.
  const full = await get(path, {});
  const view = params.as_of || params.known_at ? await get(path, { as_of: params.as_of, known_at: params.known_at }) : full;
  return { full, view };
}

function provenance(p) {
  if (!p) return "";
  const { source, ...rest } = p;
  const more = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  return `${esc(source ?? "")}${more ? ` <span class="meta">${esc(more)}</span>` : ""}`;
}

/** Key information's fields, one "name: value" each (lists joined), in the record's order. */
function details(d) {
  return Object.entries(d || {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`).join(" · ");
}

function summary(e) {
  const { deal: _deal, facts, details: info, ...rest } = e.data || {};
  const parts = Object.entries(rest)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
  if (facts && Object.keys(facts).length) parts.push(`facts: ${Object.keys(facts).join(", ")}`);
  if (info && Object.keys(info).length) parts.push(details(info));
  const text = parts.join(" · ");
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

/** An event is backdated when one recorded before it happened after it: it was slipped into the past. */
function backdatedVersions(events) {
  const out = new Set();
  let minRecordedAfter = Infinity;
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const recorded = new Date(events[i].recorded_at).getTime();
    if (recorded > minRecordedAfter) out.add(events[i].version);
    minRecordedAfter = Math.min(minRecordedAfter, recorded);
  }
  return out;
}

function stateGrid(state) {
  if (!state || !Object.keys(state).length) return `<p class="empty" data-testid="replay-state-empty">The deal did not exist yet at T, as known at K.</p>`;
  const rows = [
    ["stage", state.stage], ["status", state.status], ["amount", `${amount(state.amount)} ${state.currency ?? ""}`],
    ["owner", state.owner], ["team", state.team], ["region", state.region], ["account", state.account],
    ["expected close", state.expected_close], ["in stage since", instant(state.stage_entered_at)],
    ["next step", state.next_step ? `${state.next_step.action} (due ${instant(state.next_step.due)})` : "none"],
    ["visits", `${state.visits ?? 0} (${state.effective_visits ?? 0} effective)`],
    ["policy", `${state.policy} ${state.policy_version ?? ""}`],
    ["key info", Object.keys(state.key_info || {}).join(", ") || "none"],
  ];
  return `<dl class="state-grid" data-testid="replay-state">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd data-field="${esc(k)}">${esc(v ?? "")}</dd>`).join("")}</dl>`;
}

function keyForm(key) {
  return `<form data-testid="replay-form" class="controls"><label>Deal key<input name="deal-key" data-testid="deal-key" value="${esc(key || "")}" size="32" spellcheck="false"></label><button type="submit">Replay</button></form>`;
}

export function render(doc, params) {
  if (!doc) return `<h2>Deal replay</h2>${keyForm("")}<p class="empty">Enter a deal's key, or open one from the deals list or the health view.</p>`;
  const { full, view } = doc;
  // K is drawn and events greyed only when the person chose one; the default is "now".
  const knownAt = params.known_at && view.known_at ? new Date(view.known_at) : null;
  const asOf = new Date(view.as_of);
  const known = new Set(view.events.map((e) => e.version));
  const backdated = backdatedVersions(full.events);
  const stateOf = (e) => (knownAt && new Date(e.recorded_at) > knownAt ? "later" : new Date(e.effective_at) > asOf ? "future" : known.has(e.version) ? "known" : "later");
  const later = full.events.filter((e) => stateOf(e) === "later").length;

  const path = full.events.filter((e) => e.stage_before !== e.stage_after);
  const pathHtml = path.map((e) => `<span class="stage${stateOf(e) === "known" ? "" : " later"}" title="${esc(instant(e.effective_at))}, recorded ${esc(instant(e.recorded_at))}" data-stage="${esc(e.stage_after)}">${esc(e.stage_after)} <span class="meta">${esc(e.effective_at.slice(0, 10))}</span></span>`).join(`<span class="arrow">→</span>`);

  const clocks = twoClocks(full.events.map((e) => ({
    effective: new Date(e.effective_at), recorded: new Date(e.recorded_at), later: stateOf(e) !== "known",
    backdated: backdated.has(e.version), label: `v${e.version} ${e.type} by ${e.actor}`,
  })), { title: "Effective and recorded times", knownAt });

  const rows = full.events.map((e) => {
    const s = stateOf(e);
    const tag = s === "later" ? `<span class="tag">recorded after K</span>` : s === "future" ? `<span class="tag">after T</span>` : "";
    return `<tr class="${s === "known" ? "" : s}" data-version="${e.version}" data-state="${s}" data-type="${esc(e.type)}">
      <td class="num">${e.version}</td>
      <td>${esc(instant(e.effective_at))}</td>
      <td>${esc(instant(e.recorded_at))}${backdated.has(e.version) ? ` <span class="backdated" title="Recorded after events that happened later: a backdated entry">backdated</span>` : ""}</td>
      <td>${esc(e.type)}${tag}</td>
      <td>${esc(e.stage_before ?? "—")} → ${esc(e.stage_after ?? "")}</td>
      <td>${esc(e.actor)}</td>
      <td>${provenance(e.provenance)}</td>
      <td class="mono">${esc(e.command_id ?? "")}</td>
      <td>${esc(summary(e))}${e.entered_without && e.entered_without.length ? ` <span class="backdated">entered without: ${esc(e.entered_without.join(", "))}</span>` : ""}</td></tr>`;
  }).join("");

  return `<h2>Deal <span data-testid="replay-key">${esc(full.deal)}</span></h2>${keyForm(full.deal)}
    ${meta(view)}
    <div class="cols"><div class="card"><h3>At T, as known at K</h3>${stateGrid(view.state)}
      <p class="meta" data-testid="replay-counts">${view.events.length} events in view · <span data-testid="later-count">${later}</span> recorded after K · ${full.events.length} in all</p></div>
    <div class="card"><h3>Stage path</h3><div class="path" data-testid="stage-path">${pathHtml || '<span class="empty">no stage yet</span>'}</div>
      <h3>Two clocks</h3>${clocks}</div></div>
    <div class="card"><h3>Timeline (effective order)</h3>
    <table class="data replay" data-testid="replay-events"><thead><tr><th class="num">v</th><th>effective</th><th>recorded</th><th>event</th><th>stage</th><th>actor</th><th>source</th><th>command id</th><th>what</th></tr></thead>
    <tbody>${rows}</tbody></table></div>`;
}

export function after(root, _doc, params, ctx) {
  root.querySelector("[data-testid=replay-form]")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = root.querySelector("[name=deal-key]").value.trim();
    if (key) ctx.navigate(`#/deal/${encodeURIComponent(key)}${ctx.query({ as_of: params.as_of, known_at: params.known_at })}`);
  });
}
