// The controls above a view: the "as of" time slider (hours back from now, the right
// end meaning now and following new events), the "known at" instant, grouping and
// filters. Each view names the controls it takes; they read and write the view's params.

import { escapeHtml as esc, iso, parseInstant } from "./format.js";

const HOUR = 3600 * 1000;
export const WINDOWS = [7, 30, 90, 180, 365, 730];
// The anomalies report's kinds, in its order (docs/metrics.md, "Anomalies").
const ANOMALY_KINDS = ["criteria_lapsed", "probability_jump", "backdated", "over_stage_limit", "no_next_step", "next_step_overdue"];

/** The slider's right end: now, rounded up to the hour, so every step is a whole hour. */
export function anchor() {
  return new Date(Math.ceil(Date.now() / HOUR) * HOUR);
}

function instantField(name, label, value, placeholder, hint) {
  return `<label>${esc(label)}<input class="instant" name="${name}" data-testid="${name}" value="${esc(value || "")}" placeholder="${esc(placeholder)}" spellcheck="false"></label>${hint ? `<span class="hint">${esc(hint)}</span>` : ""}`;
}

function select(name, label, options, value) {
  const opts = options.map(([v, text]) => `<option value="${esc(v)}"${v === (value || "") ? " selected" : ""}>${esc(text)}</option>`).join("");
  return `<label>${esc(label)}<select name="${name}" data-testid="${name}">${opts}</select></label>`;
}

function textField(name, label, value, placeholder = "") {
  return `<label>${esc(label)}<input name="${name}" data-testid="${name}" value="${esc(value || "")}" placeholder="${esc(placeholder)}" size="14"></label>`;
}

function slider(params) {
  const days = Number(params.window || 90);
  const max = days * 24;
  const end = anchor();
  let value = max;
  if (params.as_of) {
    const t = parseInstant(params.as_of);
    if (t) value = Math.max(0, Math.min(max, max - Math.round((end - t) / HOUR)));
  }
  const windows = WINDOWS.map((d) => [String(d), `${d} days`]);
  return `<label class="slider">As of (drag; right end = now, live)
      <input type="range" name="as_of_slider" data-testid="as-of-slider" min="0" max="${max}" step="1" value="${value}" data-anchor="${end.getTime()}">
    </label>
    ${select("window", "Slider spans", windows, String(days))}
    ${instantField("as_of", "As of T", params.as_of, "now", "")}
    <button type="button" data-action="now" data-testid="as-of-now">Now</button>`;
}

/** The controls' HTML for a view; ``ctx`` brings the policies (for their names and stages). */
export function render(names, params, ctx) {
  const policies = ctx.policies.map((p) => [p.name, p.name]);
  const stages = [...new Set(ctx.policies.flatMap((p) => p.stages.map((s) => s.name)))];
  const parts = [];
  for (const name of names) {
    if (name === "as_of") parts.push(slider(params));
    if (name === "to") parts.push(instantField("to", "Compare with T2", params.to, "now"));
    if (name === "from") parts.push(instantField("from", "From (included)", params.from, "YYYY-MM-DD"));
    if (name === "until") parts.push(instantField("until", "Until (excluded)", params.until, "YYYY-MM-DD"));
    if (name === "known_at") parts.push(instantField("known_at", "Known at K", params.known_at, "all recorded"));
    if (name === "by") parts.push(select("by", "Split by", [["", "—"], ["team", "team"], ["owner", "owner"], ["region", "region"], ["policy", "policy"], ["size", "size"]], params.by));
    if (name === "policy") parts.push(select("policy", "Policy", [["", "all"], ...policies], params.policy));
    if (name === "stage") parts.push(select("stage", "Stage", [["", "any"], ...stages.map((s) => [s, s])], params.stage));
    if (name === "status") parts.push(select("status", "Status", [["", "any"], ["open", "open"], ["won", "won"], ["lost", "lost"], ["abandoned", "abandoned"]], params.status));
    for (const f of ["owner", "team", "account"]) if (name === f) parts.push(textField(f, f[0].toUpperCase() + f.slice(1), params[f]));
    if (name === "q") parts.push(textField("q", "Search", params.q, "key, account, …"));
    if (name === "period") parts.push(textField("period", "Period", params.period, "T's quarter"));
    if (name === "kind") parts.push(select("kind", "Kind", [["", "every kind"], ...ANOMALY_KINDS.map((k) => [k, k.replaceAll("_", " ")])], params.kind));
  }
  parts.push(`<span class="hint" data-testid="control-error" role="alert"></span>`);
  return parts.join("");
}

/** Wire the controls: each change gives the new params (from ``current()``) to ``apply``;
 * instants that do not parse are refused here, naming the field. */
export function wire(root, current, apply) {
  const error = root.querySelector("[data-testid=control-error]");
  const next = () => ({ ...current() });
  const sliderInput = root.querySelector("[name=as_of_slider]");
  if (sliderInput) {
    const fromSlider = () => {
      const max = Number(sliderInput.max);
      const v = Number(sliderInput.value);
      const end = Number(sliderInput.dataset.anchor);
      const p = next();
      p.as_of = v >= max ? "" : iso(new Date(end - (max - v) * HOUR));
      root.querySelector("[name=as_of]").value = p.as_of;
      return p;
    };
    sliderInput.addEventListener("input", () => apply(fromSlider(), { debounce: true }));
    sliderInput.addEventListener("change", () => apply(fromSlider(), { debounce: false }));
  }
  root.querySelector("[data-action=now]")?.addEventListener("click", () => apply({ ...next(), as_of: "" }, { rerenderControls: true }));
  for (const input of root.querySelectorAll("input.instant")) {
    input.addEventListener("change", () => {
      const text = input.value.trim();
      if (text && !parseInstant(text)) {
        error.textContent = `${input.name}: "${text}" is not an instant; use ISO 8601 with an offset (2026-11-15T09:00:00+00:00) or a date YYYY-MM-DD (00:00 UTC).`;
        return;
      }
      error.textContent = "";
      apply({ ...next(), [input.name]: text }, { rerenderControls: true });
    });
  }
  for (const sel of root.querySelectorAll("select")) {
    sel.addEventListener("change", () => apply({ ...next(), [sel.name]: sel.value, cursor: "" }, { rerenderControls: sel.name === "window" }));
  }
  for (const input of root.querySelectorAll("input:not(.instant):not([type=range])")) {
    input.addEventListener("change", () => apply({ ...next(), [input.name]: input.value.trim(), cursor: "" }, {}));
  }
}
