// Small DOM helpers: elements, tables, paged lists and error notes.

import { ApiError, page } from "./api.js";
import { lang, t } from "./i18n.js";

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * An element with attributes (`on…` are listeners) and children.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else if (value === true) {
      el.setAttribute(name, "");
    } else if (typeof value === "string" || typeof value === "number") {
      el.setAttribute(name, String(value));
    } else {
      throw new TypeError(`attribute ${name} is neither text, a number nor a flag`);
    }
  }
  append(el, children);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {(Child | Child[])[]} children
 */
function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "number" ? String(child) : child);
  }
}

/**
 * Replaces an element's children.
 * @param {HTMLElement} el
 * @param {...(Child | Child[])} children
 */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * A table: a header per column, a row per item.
 * @template T
 * @param {string[]} headers
 * @param {T[]} items
 * @param {(item: T) => (Child | Child[])[]} cells
 */
export function table(headers, items, cells) {
  if (items.length === 0) return h("p", { class: "empty" }, t("common.none"));
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, items.map((item) => h("tr", {}, cells(item).map((c) => h("td", {}, c))))),
  );
}

/**
 * A list read a page at a time as the API pages it, with a "More" button
 * while there is a next page.
 * @template T
 * @param {string} path
 * @param {(items: T[]) => HTMLElement} render  the table of what is read so far
 * @param {number} [limit]
 */
export function paged(path, render, limit = 50) {
  const box = h("div", { class: "paged" }, t("common.loading"));
  /** @type {T[]} */
  const items = [];
  /** @param {string} after */
  const load = async (after) => {
    try {
      const got = await page(path, after, limit);
      items.push(.../** @type {T[]} */ (got.items));
      const more =
        got.next === null
          ? null
          : h("button", { type: "button", class: "more", onclick: () => void load(got.next ?? "") }, t("common.more"));
      fill(box, render(items), more);
    } catch (e) {
      fill(box, problem(e));
    }
  };
  void load("");
  return box;
}

/**
 * The server's error as it said it (or what went wrong on the way).
 * @param {unknown} e
 */
export function problem(e) {
  return h("p", { class: "error", role: "alert" }, problemText(e));
}

/**
 * What `problem` says, as text.
 * @param {unknown} e
 */
export function problemText(e) {
  const message = e instanceof ApiError ? `${e.message} (${e.code}${e.reason === undefined ? "" : `: ${e.reason}`})` : String(e);
  return t("error.title", { message });
}

/**
 * Runs `work` from a button: the button is disabled meanwhile, and a
 * refusal is shown in `out`.
 * @param {HTMLElement} out
 * @param {() => Promise<void>} work
 */
export async function act(out, work) {
  const active = document.activeElement;
  if (active instanceof HTMLButtonElement) active.disabled = true;
  try {
    await work();
  } catch (e) {
    fill(out, problem(e));
  } finally {
    if (active instanceof HTMLButtonElement) active.disabled = false;
  }
}

/**
 * A button that runs `work` (see `act`), its refusal shown in `out`.
 * @param {HTMLElement} out
 * @param {string} label
 * @param {"" | "secondary" | "danger"} kind
 * @param {() => Promise<void>} work
 */
export function button(out, label, kind, work) {
  return h("button", { type: "button", class: kind === "" ? undefined : kind, onclick: () => void act(out, work) }, label);
}

/**
 * A labelled input.
 * @param {string} label
 * @param {Record<string, unknown>} attrs
 */
export function field(label, attrs) {
  return h("label", { class: "field" }, h("span", {}, label), h("input", attrs));
}

/**
 * An input's value by name, from a form.
 * @param {HTMLFormElement} form
 * @param {string} name
 */
export function value(form, name) {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement
    ? el.value
    : "";
}

/**
 * An instant in the chosen language's way.
 * @param {string} rfc3339
 */
export function time(rfc3339) {
  return new Date(rfc3339).toLocaleString(lang());
}
