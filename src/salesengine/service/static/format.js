// Numbers and instants as the page shows them. Amounts arrive as decimal strings (the
// API never rounds them through a float), so they are grouped as text, not as numbers.

/** "28913000.5" -> "28,913,000.50": at least two decimals, and every digit the API gave. */
export function amount(text) {
  if (text === null || text === undefined || text === "") return "";
  const s = String(text);
  const negative = s.startsWith("-");
  const [whole, frac = ""] = (negative ? s.slice(1) : s).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const digits = (frac + "00").slice(0, Math.max(2, frac.replace(/0+$/, "").length));
  return (negative ? "-" : "") + grouped + "." + digits;
}

/** A short amount for a bar label: 28.9M, 723k. */
export function shortAmount(text) {
  const n = Number(text);
  if (!Number.isFinite(n)) return String(text);
  const abs = Math.abs(n);
  if (abs >= 1e9) return (n / 1e9).toFixed(1) + "B";
  if (abs >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (abs >= 1e3) return (n / 1e3).toFixed(0) + "k";
  return n.toFixed(0);
}

export function count(n) {
  return Number(n).toLocaleString("en-US");
}

export function percent(x) {
  if (x === null || x === undefined) return "–";
  return (Number(x) * 100).toFixed(1) + "%";
}

export function days(x) {
  if (x === null || x === undefined) return "–";
  return Number(x).toFixed(1);
}

/** An instant as the API and the command line take it: ISO 8601 in UTC, to the second. */
export function iso(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "+00:00");
}

/** An instant from the API, shown in UTC to the second (the clocks the CLI prints). */
export function instant(text) {
  if (!text) return "";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return String(text);
  return d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

/** Parse what a person typed as an instant: ISO 8601 with offset, or YYYY-MM-DD (UTC). */
export function parseInstant(text) {
  const t = String(text).trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return new Date(t + "T00:00:00Z");
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(t)) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}
