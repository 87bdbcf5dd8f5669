// A projection's figures as ranges: per row, the 80% band [p10, p90] as a bar, its mean
// as a tick, and where the row stands now as a dot, each with its numbers as text. Drawn
// as the other charts are (charts.js: inline SVG, labels measured with CJK counted wide).

import { PALETTE, textWidth } from "./charts.js";
import { escapeHtml as esc } from "./format.js";

const ROW = 24;
const fixed = (v) => Number(v).toFixed(1);
const BAR = 12;

/**
 * rows: [{label, now, band: {mean, p10, p90}, text, testid?}]: ``now`` the figure at T
 * (null to leave it out). The scale runs from 0 to the largest value drawn.
 */
export function bandBars(rows, { title = "", width = 900, nowLabel = "now", color = PALETTE[0] } = {}) {
  if (!rows.length) return `<p class="empty">Nothing to chart.</p>`;
  const left = Math.min(260, Math.max(60, ...rows.map((r) => textWidth(r.label) + 14)));
  const maxText = Math.max(...rows.map((r) => textWidth(r.text, 11)));
  const span = Math.max(120, width - left - maxText - 24);
  const max = Math.max(...rows.flatMap((r) => [Number(r.now ?? 0), Number(r.band.p90)]), 1e-9);
  const x = (v) => left + (Number(v) / max) * span;
  const height = rows.length * ROW + 26;
  let out = `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`;
  rows.forEach((r, i) => {
    const y = 4 + i * ROW;
    const { mean, p10, p90 } = r.band;
    const x10 = x(p10);
    const w = Math.max(2, x(p90) - x10);
    out += `<text x="${left - 8}" y="${y + 11}" text-anchor="end">${esc(r.label)}</text>`;
    out += `<rect x="${x10.toFixed(1)}" y="${y + 1}" width="${w.toFixed(1)}" height="${BAR}" rx="2" fill="${color}" fill-opacity=".35" stroke="${color}"><title>${esc(r.label)}: 80% band ${fixed(p10)} to ${fixed(p90)}, mean ${fixed(mean)}</title></rect>`;
    out += `<line x1="${x(mean).toFixed(1)}" x2="${x(mean).toFixed(1)}" y1="${y - 1}" y2="${y + BAR + 3}" stroke="${color}" stroke-width="2"></line>`;
    if (r.now !== null && r.now !== undefined) {
      out += `<circle cx="${x(r.now).toFixed(1)}" cy="${y + 7}" r="4" fill="#1d2430"><title>${esc(r.label)}: ${esc(nowLabel)} ${esc(r.now)}</title></circle>`;
    }
    const testid = r.testid ? ` data-testid="${esc(r.testid)}"` : "";
    out += `<text x="${(Math.max(x(p90), x(r.now ?? 0)) + 8).toFixed(1)}" y="${y + 11}"${testid}>${esc(r.text)}</text>`;
  });
  const axisY = rows.length * ROW + 8;
  out += `<line class="axis" x1="${left}" x2="${left + span}" y1="${axisY}" y2="${axisY}"></line>`;
  out += `<text class="muted" x="${left}" y="${axisY + 14}">0</text>`;
  out += `<text class="muted" x="${left + span}" y="${axisY + 14}" text-anchor="end">${esc(Number(max.toFixed(1)))}</text>`;
  return out + `</svg>`;
}
