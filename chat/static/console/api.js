// A small fetch wrapper for the console: JSON in and out, the CSRF token, errors as exceptions.
import { format, gettext } from "./i18n.js";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, payload) {
    const detail = payload?.error?.detail || format(gettext("Request failed (%(status)s)"), { status });
    super(detail);
    this.status = status;
    this.code = payload?.error?.code || "http_error";
    this.fields = payload?.error?.fields || {};
  }
}

export async function api(url, { method = "GET", body, params } = {}) {
  let target = url;
  if (params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      for (const item of [].concat(value)) if (item !== undefined && item !== null && item !== "") query.append(key, item);
    }
    const text = query.toString();
    if (text) target += (target.includes("?") ? "&" : "?") + text;
  }
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(target, init);
  if (response.status === 204) return null;
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

/** All pages of a cursor-paginated list (bounded, for the console's list views). */
export async function apiAll(url, params, maxPages = 5) {
  const results = [];
  let page = await api(url, { params });
  for (let i = 0; page && i < maxPages; i += 1) {
    results.push(...(page.results || page));
    if (!page.next) break;
    page = await api(page.next);
  }
  return results;
}
