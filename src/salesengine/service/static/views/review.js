// The case review (案情追踪) a manager runs in a weekly one-to-one, at T known at K: the
// A deals in full (how each came, its key information and what is missing, its next
// step), the B deals and what they wait on, a seeded sample of the C and D deals, the
// overdue contacts and the period's prospecting figures. The owner and team pickers offer
// those of the open deals the caller reaches; the API keeps every answer to that scope.

import { get } from "../api.js";
import { amount, count, days, escapeHtml as esc, instant } from "../format.js";
import { table } from "../tables.js";
import { dealLink, meta } from "./common.js";

export const title = "Review";
export const controls = ["as_of", "known_at"];

const PERIODS = ["week", "month", "quarter"];

export async function load(params) {
  const [pack, open] = await Promise.all([
    get("/reports/review", {
      as_of: params.as_of, known_at: params.known_at, owner: params.owner, team: params.team,
      period: params.period, sample: params.sample, seed: params.seed,
    }),
    // The people and teams to pick from: those of the open deals the caller reaches.
    get("/deals", { as_of: params.as_of, known_at: params.known_at, status: "open", limit: 1000 }),
  ]);
  const owners = [...new Set(open.items.map((d) => d.owner).filter(Boolean))].sort();
  const teams = [...new Set(open.items.map((d) => d.team).filter(Boolean))].sort();
  return { ...pack, pick: { owners, teams } };
}

function pickers(doc, params) {
  const options = (values, chosen, all) => [...(all ? [["", all]] : []), ...values.map((v) => [v, v])]
    .map(([v, text]) => `<option value="${esc(v)}"${v === (chosen || "") ? " selected" : ""}>${esc(text)}</option>`).join("");
  // A value chosen through the URL stays offered even when no open deal has it now.
  const owners = doc.owner && !doc.pick.owners.includes(doc.owner) ? [doc.owner, ...doc.pick.owners] : doc.pick.owners;
  const teams = doc.team && !doc.pick.teams.includes(doc.team) ? [doc.team, ...doc.pick.teams] : doc.pick.teams;
  return `<form class="controls" data-testid="review-pickers">
    <label>Owner<select name="owner" data-testid="review-owner">${options(owners, doc.owner, "everyone in reach")}</select></label>
    <label>Team<select name="team" data-testid="review-team">${options(teams, doc.team, "every team in reach")}</select></label>
    <label>Prospecting period<select name="period" data-testid="review-period">${options(PERIODS, params.period || "week", "")}</select></label>
    <label>C/D sample<input name="sample" type="number" min="0" max="1000" data-testid="review-sample" value="${esc(doc.sample)}" size="4"></label>
    <label>Seed<input name="seed" data-testid="review-seed" value="${esc(params.seed || "")}" placeholder="${esc(doc.seed)}" size="10"></label>
  </form>`;
}

function money(d) {
  return d.amount === null ? "no amount" : `${amount(d.amount)} ${d.currency ?? ""}`;
}

function details(d) {
  return Object.entries(d || {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`).join(" · ");
}

function waiting(d) {
  if (d.next_stage === null) return "the close (last stage)";
  if (!d.waiting_on.length) return `nothing: may advance to ${d.next_stage}`;
  return `${d.next_stage}: ${d.waiting_on.join(", ").replaceAll("_", " ")}`;
}

function source(d) {
  if (!d.source) return "recorded directly";
  return Object.entries(d.source).map(([k, v]) => `${k} ${v}`).join(", ");
}

/** An A deal in full: how it came, its key information with evidence, what is missing. */
function inFull(d) {
  const info = d.key_info.map((k) => `<li data-testid="key-info" data-topic="${esc(k.topic)}"><b>${esc(k.topic)}</b>: ${esc(details(k.details))}
      <span class="${k.evidence ? "meta" : "missing"}">${esc(k.evidence ? `evidence: ${k.evidence}` : "no evidence")}</span>
      <span class="meta">· ${esc(k.actor)}, ${esc(instant(k.effective_at))}</span></li>`).join("");
  const step = d.next_step ? `${d.next_step.action}, due ${instant(d.next_step.due)} (${d.next_step.owner})` : "none";
  return `<div class="card review-deal" data-testid="review-a-deal" data-deal="${esc(d.deal)}">
    <h3>${dealLink(d.deal)} <span class="meta">${esc(d.policy)} · ${esc(d.stage)}</span> ${esc(money(d))}
      <span class="meta">expected close ${esc(d.expected_close ?? "–")} · owner ${esc(d.owner ?? "–")}${d.account ? ` · account <a href="#/account/${encodeURIComponent(d.account)}">${esc(d.account)}</a>` : ""}</span></h3>
    <dl class="state-grid">
      <dt>came</dt><dd>opened ${esc(instant(d.opened_at))} by ${esc(d.opened_by)} in ${esc(d.opened_in)}; ${esc(source(d))}</dd>
      <dt>key information</dt><dd>${info ? `<ul class="key-info">${info}</ul>` : '<span class="empty">none recorded</span>'}</dd>
      <dt>missing</dt><dd data-testid="review-missing" class="${d.missing.length ? "missing" : ""}">${esc(d.missing.join(", ") || "nothing")}
        <span class="meta">(expected at this stage: ${esc(d.expected.join(", ") || "none")})</span></dd>
      <dt>next step</dt><dd>${esc(step)}</dd>
      <dt>waiting on</dt><dd>${esc(waiting(d))}; last contact ${esc(instant(d.last_contact))}</dd>
    </dl></div>`;
}

export function render(doc, params) {
  const grade = (name) => doc.grades.find((g) => g.grade === name);
  const a = grade("A");
  const b = grade("B");
  const who = doc.owner || doc.team || "everyone in reach";
  let html = `<h2>Case review: <span data-testid="review-who">${esc(who)}</span></h2>${meta(doc, ` · seed ${esc(doc.seed)}`)}${pickers(doc, params)}`;
  html += `<h3>A deals (<span data-testid="review-a-total">${count(a.total)}</span>, in full)</h3>`;
  html += a.deals.length ? a.deals.map(inFull).join("") : '<p class="empty" data-testid="review-a-none">No A deal.</p>';
  html += `<div class="card"><h3>B deals (${count(b.total)}): what they wait on</h3>${table([
    { key: "deal", label: "deal", format: (v) => dealLink(v) }, { key: "owner", label: "owner" }, { key: "stage", label: "stage" },
    { key: "expected_close", label: "expected close" },
    { key: "next_step", label: "next step (next contact)", format: (v) => esc(v ? `${v.action} (${instant(v.due)})` : "none") },
    { key: "last_contact", label: "last contact", format: (v) => esc(instant(v)) },
    { key: "waiting_on", label: "waiting on", format: (_v, r) => esc(waiting(r)) },
    { key: "missing", label: "missing", format: (v) => esc(v.join(", ")) },
  ], b.deals, { testid: "review-b", empty: "No B deal." })}</div>`;
  for (const name of ["C", "D"]) {
    const g = grade(name);
    html += `<div class="card"><h3 data-testid="review-${name.toLowerCase()}-title">${name} deals: ${count(g.deals.length)} of ${count(g.total)} sampled</h3>${table([
      { key: "deal", label: "deal", format: (v) => dealLink(v) }, { key: "owner", label: "owner" }, { key: "stage", label: "stage" },
      { key: "expected_close", label: "expected close" }, { key: "amount", label: "amount", num: true, format: (v, r) => esc(v === null ? "" : money(r)) },
      { key: "last_contact", label: "last contact", format: (v) => esc(instant(v)) },
      { key: "missing", label: "missing", format: (v) => esc(v.join(", ")) },
    ], g.deals, { testid: `review-${name.toLowerCase()}`, empty: `No ${name} deal.` })}</div>`;
  }
  html += `<div class="card"><h3>Overdue contacts (${count(doc.overdue_contacts.length)}, most overdue first)</h3>${table([
    { key: "deal", label: "deal", format: (v) => dealLink(v) }, { key: "owner", label: "owner" }, { key: "stage", label: "stage" },
    { key: "grade", label: "grade" }, { key: "last_contact", label: "last contact", format: (v) => esc(instant(v)) },
    { key: "days_since", label: "days since", num: true, format: days }, { key: "cadence_days", label: "cadence (days)", num: true },
  ], doc.overdue_contacts, { testid: "review-overdue", empty: "No overdue contact." })}</div>`;
  const acc = doc.accounts;
  const perGrade = acc ? Object.entries(acc.per_grade).map(([g, n]) => `${g} ${n}`).join(", ") : "not available";
  html += `<div class="card" data-testid="review-prospecting"><h3>Prospecting, ${esc(doc.period.name)} (from ${esc(instant(doc.period.from))} to T)</h3>
    <p><span data-testid="review-new-deals">${count(doc.new_deals_total)}</span> new deal(s) ·
      accounts per grade: <span data-testid="review-accounts-per-grade">${esc(perGrade)}</span> ·
      new accounts: <span data-testid="review-new-accounts">${acc ? count(acc.new_accounts) : "–"}</span></p>${table([
    { key: "deal", label: "deal", format: (v) => dealLink(v) }, { key: "opened_at", label: "opened", format: (v) => esc(instant(v)) },
    { key: "owner", label: "owner" }, { key: "team", label: "team" }, { key: "policy", label: "policy" },
  ], doc.new_deals, { testid: "review-new", empty: "No new deal this period." })}</div>`;
  return html;
}

export function after(root, _doc, params, ctx) {
  const form = root.querySelector("[data-testid=review-pickers]");
  form.addEventListener("submit", (e) => e.preventDefault());
  for (const field of form.querySelectorAll("select, input")) {
    field.addEventListener("change", () => ctx.apply({ ...params, [field.name]: field.value.trim() }));
  }
}
