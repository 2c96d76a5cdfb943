// The public API, called with the signed-in user's own token: the console
// can do nothing that token could not do with curl.

/** An error the server answered, as its body says. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {string | undefined} reason
   */
  constructor(status, code, message, reason) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

const TOKEN = "rulehost.token";

/** The token of this browser session (kept in sessionStorage only). */
export function token() {
  return sessionStorage.getItem(TOKEN);
}

/** @param {string | null} value */
export function setToken(value) {
  if (value === null) sessionStorage.removeItem(TOKEN);
  else sessionStorage.setItem(TOKEN, value);
}

/**
 * @typedef {{ body?: unknown, raw?: BodyInit, contentType?: string, as?: "json" | "text", onProgress?: (sent: number, total: number) => void }} CallOptions
 */

/**
 * Calls `method path` with the session's token. JSON in and out unless
 * told otherwise; an answer that is not 2xx is thrown as an `ApiError`.
 * @param {string} method
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<unknown>}
 */
export async function call(method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  const bearer = token();
  if (bearer !== null) headers["Authorization"] = `Bearer ${bearer}`;
  /** @type {BodyInit | undefined} */
  let body;
  if (options.raw !== undefined) {
    body = options.raw;
    headers["Content-Type"] = options.contentType ?? "application/octet-stream";
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["Content-Type"] = "application/json";
  }
  if (options.onProgress !== undefined && body !== undefined) {
    return upload(method, path, headers, body, options.onProgress);
  }
  const init = /** @type {RequestInit} */ ({ method, headers });
  if (body !== undefined) init.body = body;
  const response = await fetch(path, init);
  return answer(response.status, await response.text(), options.as ?? "json");
}

/**
 * A call whose body's progress is shown (fetch reports none): the same
 * request through XMLHttpRequest.
 * @param {string} method
 * @param {string} path
 * @param {Record<string, string>} headers
 * @param {BodyInit} body
 * @param {(sent: number, total: number) => void} onProgress
 * @returns {Promise<unknown>}
 */
function upload(method, path, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, path);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (e) => {
      onProgress(e.loaded, e.total);
    };
    request.onload = () => {
      try {
        resolve(answer(request.status, request.responseText, "json"));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    request.onerror = () => {
      reject(new ApiError(0, "network", "the server could not be reached", undefined));
    };
    request.send(/** @type {XMLHttpRequestBodyInit} */ (body));
  });
}

/**
 * @param {number} status
 * @param {string} text
 * @param {"json" | "text"} as
 * @returns {unknown}
 */
function answer(status, text, as) {
  if (status >= 200 && status < 300) {
    if (as === "text") return text;
    return text === "" ? null : JSON.parse(text);
  }
  /** @type {{ error?: { code?: string, message?: string, reason?: string } }} */
  let parsed = {};
  try {
    const body = /** @type {unknown} */ (JSON.parse(text));
    if (typeof body === "object" && body !== null) parsed = body;
  } catch {
    // Not the API's error shape: the text itself is the message.
  }
  const error = parsed.error ?? {};
  throw new ApiError(status, error.code ?? `http_${status}`, error.message ?? text, error.reason);
}

/**
 * One page of a list, as the API pages it.
 * @param {string} path
 * @param {string} after  the previous page's `next` ("" for the first)
 * @param {number} limit
 * @returns {Promise<{ items: unknown[], next: string | null }>}
 */
export async function page(path, after, limit) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (after !== "") query.set("after", after);
  const separator = path.includes("?") ? "&" : "?";
  const got = /** @type {{ items?: unknown[], next?: string | null }} */ (await call("GET", `${path}${separator}${query.toString()}`));
  return { items: got.items ?? [], next: got.next ?? null };
}

/** @param {string} s */
export const enc = (s) => encodeURIComponent(s);
