// The API client: the bearer token from sessionStorage on every request, and errors
// turned into messages a person can act on (RFC 9457 problem documents name the field).

const TOKEN_KEY = "salesengine.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(text) {
  sessionStorage.setItem(TOKEN_KEY, text);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The token was refused (401): the page signs out and asks for another. */
export class AuthError extends Error {}

/** Any other refusal, with the problem document's detail and field errors. */
export class ApiError extends Error {
  constructor(status, problem, fallback) {
    const fields = (problem && problem.errors) || [];
    const detailText = (problem && problem.detail) || "";
    // The field errors, unless the detail already says them.
    const named = fields.filter((e) => !detailText.includes(e.message)).map((e) => `${e.field}: ${e.message}`).join("; ");
    const unmet = problem && problem.unmet && problem.unmet.length ? ` (unmet: ${problem.unmet.join(", ")})` : "";
    const detail = (problem && (problem.detail || problem.title)) || fallback;
    super(`${detail}${named ? ` — ${named}` : ""}${unmet}`);
    this.status = status;
    this.problem = problem;
  }
}

/** The last report's freshness, from its headers: shown beside the log position. */
export const freshness = { behind: null, position: null };

/** GET a path under /api/v1 with query parameters (empty values left out). */
export async function get(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, value);
  }
  const url = `/api/v1${path}${query.toString() ? `?${query}` : ""}`;
  const current = token();
  if (!current) throw new AuthError("Sign in with a token first.");
  let response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${current}`, Accept: "application/json" } });
  } catch (e) {
    throw new ApiError(0, null, `The server did not answer (${e.message}). Is salesengine serve running?`);
  }
  const behind = response.headers.get("X-Read-Models-Behind");
  if (behind !== null) freshness.behind = Number(behind);
  const position = response.headers.get("X-Log-Position");
  if (position !== null) freshness.position = Number(position);
  let body = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try { body = await response.json(); } catch { body = null; }
  }
  if (response.status === 401) {
    throw new AuthError((body && body.detail) || "The token was refused.");
  }
  if (!response.ok) {
    throw new ApiError(response.status, body, `${response.status} ${response.statusText}`);
  }
  return body;
}
