// Charts as inline SVG, drawn here: no chart library, nothing fetched. Every bar carries
// its numbers as text (a manager reads them at a glance), rows are one line each so 30
// owners stay readable, and label widths are measured with CJK characters counted wide.

import { escapeHtml as esc } from "./format.js";

export const PALETTE = ["#2f6fdf", "#2a9d8f", "#8a5cd0", "#e07b39", "#c9a227", "#d0453b",
  "#5b8c3a", "#b5487a", "#4b7d9c", "#7a6a58"];
const ROW = 24;
const BAR = 17;

/** Approximate width in px of a label at 12px: wide characters (CJK, fullwidth) count double. */
export function textWidth(text, size = 12) {
  let w = 0;
  for (const ch of String(text)) {
    const code = ch.codePointAt(0);
    w += code >= 0x2e80 ? size : code >= 0x41 && code <= 0x5a ? size * 0.68 : size * 0.58;
  }
  return Math.ceil(w);
}

function labelColumn(rows) {
  return Math.min(260, Math.max(60, ...rows.map((r) => textWidth(r.label) + 14)));
}

function svgOpen(width, height, title) {
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`;
}

/** The label of a bar: inside (white) when it fits, else right after the bar. */
function barText(x, width, y, text, testid) {
  const fits = textWidth(text, 11) + 8 < width;
  const attr = testid ? ` data-testid="${esc(testid)}"` : "";
  return fits
    ? `<text class="on-bar" x="${x + 5}" y="${y}"${attr}>${esc(text)}</text>`
    : `<text x="${x + width + 4}" y="${y}"${attr}>${esc(text)}</text>`;
}

/**
 * Horizontal bars, one a row. rows: [{label, value, text, color?, href?, testid?}].
 * The scale leaves room on the right for the text of the longest bar.
 */
export function hbars(rows, { title = "", width = 900 } = {}) {
  if (!rows.length) return `<p class="empty">Nothing to chart.</p>`;
  const left = labelColumn(rows);
  const maxText = Math.max(...rows.map((r) => textWidth(r.text, 11)));
  const span = Math.max(80, width - left - maxText - 16);
  const max = Math.max(...rows.map((r) => Math.abs(Number(r.value)) || 0), 1e-9);
  const height = rows.length * ROW + 8;
  let out = svgOpen(width, height, title);
  rows.forEach((r, i) => {
    const y = 4 + i * ROW;
    const w = Math.max(1, (Math.abs(Number(r.value)) / max) * span);
    const color = r.color || PALETTE[i % PALETTE.length];
    const label = `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(r.label)}</text>`;
    out += r.href ? `<a href="${esc(r.href)}">${label}</a>` : label;
    out += `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${BAR}" rx="2" fill="${color}"><title>${esc(r.label)}: ${esc(r.text)}</title></rect>`;
    out += barText(left, w, y + 13, r.text, r.testid);
  });
  return out + `</svg>`;
}

/**
 * One stacked bar a row (a group: an owner, a team), a segment per stage with its count
 * on it when it fits, and the row's total text after the bar.
 * rows: [{label, total, segments: [{key, value, text}]}]; keys: the stages, in order.
 */
export function stacked(rows, keys, { title = "", width = 900 } = {}) {
  if (!rows.length) return `<p class="empty">Nothing to chart.</p>`;
  const left = labelColumn(rows);
  const maxText = Math.max(...rows.map((r) => textWidth(r.total, 11)));
  const span = Math.max(120, width - left - maxText - 16);
  const max = Math.max(...rows.map((r) => r.segments.reduce((s, g) => s + Number(g.value), 0)), 1e-9);
  const height = rows.length * ROW + 8;
  let out = svgOpen(width, height, title);
  rows.forEach((r, i) => {
    const y = 4 + i * ROW;
    out += `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(r.label)}</text>`;
    let x = left;
    for (const g of r.segments) {
      const w = (Number(g.value) / max) * span;
      if (w <= 0) continue;
      const color = PALETTE[keys.indexOf(g.key) % PALETTE.length];
      out += `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${BAR}" fill="${color}" stroke="#fff" stroke-width=".5"><title>${esc(r.label)} · ${esc(g.key)}: ${esc(g.text)}</title></rect>`;
      if (textWidth(g.short, 11) + 4 < w) {
        out += `<text class="on-bar" x="${(x + w / 2).toFixed(1)}" y="${y + 13}" text-anchor="middle">${esc(g.short)}</text>`;
      }
      x += w;
    }
    out += `<text x="${(x + 4).toFixed(1)}" y="${y + 13}">${esc(r.total)}</text>`;
  });
  return out + `</svg>`;
}

export function legend(keys) {
  return `<div class="legend">${keys.map((k, i) => `<span><i style="background:${PALETTE[i % PALETTE.length]}"></i>${esc(k)}</span>`).join("")}</div>`;
}

/**
 * Moves between two instants per stage: what came in to the right, what left to the
 * left, each with its count and amount. rows: [{label, inValue, inText, outValue, outText}].
 */
export function diverging(rows, { title = "", width = 900 } = {}) {
  if (!rows.length) return `<p class="empty">Nothing to chart.</p>`;
  const left = labelColumn(rows);
  const textRoom = Math.max(...rows.map((r) => Math.max(textWidth(r.inText, 11), textWidth(r.outText, 11)))) + 8;
  const half = Math.max(80, (width - left - 2 * textRoom) / 2);
  const mid = left + textRoom + half;
  const max = Math.max(...rows.map((r) => Math.max(r.inValue, r.outValue)), 1e-9);
  const height = rows.length * ROW + 24;
  let out = svgOpen(width, height, title);
  out += `<text class="muted" x="${mid - 6}" y="12" text-anchor="end">◀ left the stage</text>`;
  out += `<text class="muted" x="${mid + 6}" y="12">entered the stage ▶</text>`;
  rows.forEach((r, i) => {
    const y = 20 + i * ROW;
    out += `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(r.label)}</text>`;
    const wo = (r.outValue / max) * half;
    const wi = (r.inValue / max) * half;
    if (wo > 0) out += `<rect x="${(mid - wo).toFixed(1)}" y="${y}" width="${wo.toFixed(1)}" height="${BAR}" fill="#d0453b"></rect>`;
    out += `<text x="${(mid - wo - 4).toFixed(1)}" y="${y + 13}" text-anchor="end">${esc(r.outText)}</text>`;
    if (wi > 0) out += `<rect x="${mid}" y="${y}" width="${wi.toFixed(1)}" height="${BAR}" fill="#2a9d5b"></rect>`;
    out += `<text x="${(mid + wi + 4).toFixed(1)}" y="${y + 13}">${esc(r.inText)}</text>`;
  });
  out += `<line class="axis" x1="${mid}" x2="${mid}" y1="16" y2="${height}"></line>`;
  return out + `</svg>`;
}

/**
 * Several bars a row (a rep's weeks), with a dashed line at the target.
 * rows: [{label, bars: [{value, text, color}]}].
 */
export function groupedBars(rows, { title = "", width = 900, target = null } = {}) {
  if (!rows.length) return `<p class="empty">Nothing to chart.</p>`;
  const left = labelColumn(rows);
  const per = Math.max(...rows.map((r) => r.bars.length), 1);
  const sub = 11;
  const rowH = per * (sub + 1) + 8;
  const max = Math.max(target || 0, ...rows.flatMap((r) => r.bars.map((b) => Number(b.value))), 1e-9);
  const span = width - left - 150;
  const height = rows.length * rowH + 8;
  let out = svgOpen(width, height, title);
  rows.forEach((r, i) => {
    const y0 = 4 + i * rowH;
    out += `<text x="${left - 8}" y="${y0 + rowH / 2 + 2}" text-anchor="end">${esc(r.label)}</text>`;
    r.bars.forEach((b, j) => {
      const y = y0 + j * (sub + 1);
      const w = Math.max(1, (Number(b.value) / max) * span);
      out += `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${sub}" fill="${b.color}"><title>${esc(r.label)}: ${esc(b.text)}</title></rect>`;
      out += `<text x="${(left + w + 4).toFixed(1)}" y="${y + 9}" style="font-size:10px">${esc(b.text)}</text>`;
    });
  });
  if (target !== null) {
    const x = left + (target / max) * span;
    out += `<line class="target" x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="0" y2="${height}"></line>`;
  }
  return out + `</svg>`;
}

/**
 * The auditor's two clocks: each event a dot on the effective line (top) joined to its
 * dot on the recorded line (bottom); a backdated event's join leans back. Events recorded
 * after K are grey. events: [{effective, recorded, later, label}] with Date values.
 */
export function twoClocks(events, { title = "", width = 900, knownAt = null } = {}) {
  if (!events.length) return `<p class="empty">No events.</p>`;
  const times = events.flatMap((e) => [e.effective.getTime(), e.recorded.getTime()]);
  if (knownAt) times.push(knownAt.getTime());
  const lo = Math.min(...times);
  const hi = Math.max(...times, lo + 1);
  const left = 90;
  const span = width - left - 20;
  const x = (t) => left + ((t - lo) / (hi - lo)) * span;
  const yE = 26;
  const yR = 96;
  let out = svgOpen(width, 128, title);
  out += `<text class="muted" x="4" y="${yE + 4}">effective</text><text class="muted" x="4" y="${yR + 4}">recorded</text>`;
  out += `<line class="axis" x1="${left}" x2="${left + span}" y1="${yE}" y2="${yE}"></line>`;
  out += `<line class="axis" x1="${left}" x2="${left + span}" y1="${yR}" y2="${yR}"></line>`;
  const day = (t) => new Date(t).toISOString().slice(0, 10);
  out += `<text class="muted" x="${left}" y="${yR + 22}">${day(lo)}</text>`;
  out += `<text class="muted" x="${left + span}" y="${yR + 22}" text-anchor="end">${day(hi)}</text>`;
  if (knownAt) {
    const k = x(knownAt.getTime());
    out += `<line class="target" x1="${k.toFixed(1)}" x2="${k.toFixed(1)}" y1="${yR - 14}" y2="${yR + 10}"></line>`;
    out += `<text x="${k.toFixed(1)}" y="${yR - 18}" text-anchor="middle" style="font-size:10px">K</text>`;
  }
  for (const e of events) {
    const color = e.later ? "#c3c9d4" : e.backdated ? "#c98a12" : "#2f6fdf";
    const xe = x(e.effective.getTime()).toFixed(1);
    const xr = x(e.recorded.getTime()).toFixed(1);
    out += `<g><title>${esc(e.label)}</title><line x1="${xe}" y1="${yE}" x2="${xr}" y2="${yR}" stroke="${color}" stroke-width="1"></line>`;
    out += `<circle cx="${xe}" cy="${yE}" r="3.5" fill="${color}"></circle><circle cx="${xr}" cy="${yR}" r="3.5" fill="${color}"></circle></g>`;
  }
  return out + `</svg>`;
}
