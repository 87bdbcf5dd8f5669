// What every report view shares: the line saying which instant and which knowledge a
// report is of, and the names of the stages that close a deal.

import { freshness } from "../api.js";
import { escapeHtml as esc, instant } from "../format.js";

export const CLOSED = new Set(["won", "lost", "abandoned"]);

/** "As of T, known at K" with the read models' lag, and a warning when K predates every record. */
export function meta(doc, extra = "") {
  const known = doc.known_at ? `known at <span data-testid="report-known-at">${esc(instant(doc.known_at))}</span>` : "everything recorded";
  const asOf = doc.as_of ? `As of <span data-testid="report-as-of">${esc(instant(doc.as_of))}</span>, ` : "";
  const lag = freshness.behind ? ` · read models ${freshness.behind} events behind the log` : "";
  let warn = "";
  if (doc.known_at && doc.earliest_recorded && new Date(doc.known_at) < new Date(doc.earliest_recorded)) {
    warn = `<p class="notice info">Nothing was recorded yet at K: the first record is of ${esc(instant(doc.earliest_recorded))}.</p>`;
  }
  return `<p class="meta">${asOf}${known}${extra}${lag}</p>${warn}`;
}

/** The value a row is grouped by (the report's ``by``), or "" when it is not split. */
export function groupOf(row, by) {
  return by ? String(row[by] ?? "(none)") : "";
}

export function dealLink(key) {
  return `<a href="#/deal/${encodeURIComponent(key)}" data-testid="deal-link">${esc(key)}</a>`;
}
