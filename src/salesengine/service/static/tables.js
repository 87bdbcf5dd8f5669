// Plain data tables: every number the charts show is also here, exactly, to read or copy.

import { escapeHtml as esc } from "./format.js";

/**
 * columns: [{key, label, num?, format?(value,row), testid?}]; rows: plain objects.
 * options.rowAttrs(row) gives extra attributes (data-*, class) for a row's <tr>.
 */
export function table(columns, rows, { testid = "", rowAttrs = () => "", empty = "No rows." } = {}) {
  if (!rows.length) return `<p class="empty">${esc(empty)}</p>`;
  const head = columns.map((c) => `<th${c.num ? ' class="num"' : ""}>${esc(c.label)}</th>`).join("");
  const body = rows.map((row) => {
    const cells = columns.map((c) => {
      const value = c.format ? c.format(row[c.key], row) : esc(row[c.key] ?? "");
      return `<td${c.num ? ' class="num"' : ""} data-col="${esc(c.key)}">${value}</td>`;
    }).join("");
    return `<tr ${rowAttrs(row)}>${cells}</tr>`;
  }).join("");
  return `<table class="data"${testid ? ` data-testid="${esc(testid)}"` : ""}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Rows grouped by a key function, in first-seen order. */
export function groupBy(rows, keyOf) {
  const groups = new Map();
  for (const row of rows) {
    const key = keyOf(row);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  return groups;
}
