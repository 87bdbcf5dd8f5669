// The deals list: filters (owner, team, stage, status, account, policy, free text) at T
// known at K, a page at a time by the API's cursor, each row a link to the deal's replay.

import { get } from "../api.js";
import { amount, escapeHtml as esc, instant } from "../format.js";
import { table } from "../tables.js";
import { dealLink, meta } from "./common.js";

export const title = "Deals";
export const controls = ["as_of", "known_at", "q", "owner", "team", "account", "stage", "status", "policy"];
const PAGE = 25;

// The cursors of the pages before this one, to go back: the API's cursors only go forward.
const previous = [];
let lastFilter = "";

export async function load(params) {
  const filter = JSON.stringify({ ...params, cursor: undefined });
  if (filter !== lastFilter) previous.length = 0;
  lastFilter = filter;
  return get("/deals", {
    as_of: params.as_of, known_at: params.known_at, owner: params.owner, team: params.team, stage: params.stage,
    status: params.status, account: params.account, policy: params.policy, q: params.q, limit: PAGE, cursor: params.cursor,
  });
}

export function render(doc, params) {
  const page = previous.length + 1;
  const columns = [
    { key: "key", label: "deal", format: (v) => dealLink(v) },
    { key: "account", label: "account" }, { key: "owner", label: "owner" }, { key: "team", label: "team" },
    { key: "region", label: "region" }, { key: "policy", label: "policy" }, { key: "stage", label: "stage" },
    { key: "status", label: "status" }, { key: "amount", label: "amount", num: true, format: (v) => amount(v) },
    { key: "currency", label: "currency" }, { key: "expected_close", label: "expected close" },
    { key: "stage_entered_at", label: "in stage since", format: (v) => esc(instant(v)) },
  ];
  return `<h2>Deals</h2>${meta({ as_of: doc.as_of || params.as_of || null, known_at: params.known_at || null })}
    <div class="card">${table(columns, doc.items, {
      testid: "deals-table",
      rowAttrs: (r) => `data-deal="${esc(r.key)}" data-owner="${esc(r.owner)}"`,
      empty: "No deal matches.",
    })}
    <div class="pager"><button type="button" data-action="prev" data-testid="page-prev"${page === 1 ? " disabled" : ""}>◀ Previous</button>
      <span data-testid="page-number">page ${page}</span>
      <button type="button" data-action="next" data-testid="page-next"${doc.next_cursor ? "" : " disabled"}>Next ▶</button></div></div>`;
}

export function after(root, doc, params, ctx) {
  root.querySelector("[data-action=next]")?.addEventListener("click", () => {
    previous.push(params.cursor || "");
    ctx.apply({ ...params, cursor: doc.next_cursor }, { keepCursor: true });
  });
  root.querySelector("[data-action=prev]")?.addEventListener("click", () => {
    const cursor = previous.pop() ?? "";
    ctx.apply({ ...params, cursor }, { keepCursor: true });
  });
}
