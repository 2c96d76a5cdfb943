// A JSON document editor (config, offers, contact policy) that puts the
// server's refusal next to the line of the field it names.

import { ApiError, call } from "./api.js";
import { t } from "./i18n.js";
import { act, fill, h, problem, problemText } from "./ui.js";

/**
 * `value` as indented JSON, with the line each field starts on, by the
 * path the server names it by (`[1].priority`, `channels.sms.per_week`).
 * @param {unknown} value
 * @returns {{ text: string, lines: Map<string, number> }}
 */
export function layout(value) {
  /** @type {string[]} */
  const out = [];
  /** @type {Map<string, number>} */
  const lines = new Map();
  /**
   * @param {unknown} v
   * @param {string} path
   * @param {string} indent
   * @param {string} prefix
   * @param {string} suffix
   */
  const emit = (v, path, indent, prefix, suffix) => {
    lines.set(path, out.length);
    if (Array.isArray(v) && v.length > 0) {
      out.push(`${indent}${prefix}[`);
      v.forEach((x, i) => {
        emit(x, `${path}[${i}]`, `${indent}  `, "", i < v.length - 1 ? "," : "");
      });
      out.push(`${indent}]${suffix}`);
    } else if (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length > 0) {
      const entries = Object.entries(v);
      out.push(`${indent}${prefix}{`);
      entries.forEach(([k, x], i) => {
        emit(x, path === "" ? k : `${path}.${k}`, `${indent}  `, `${JSON.stringify(k)}: `, i < entries.length - 1 ? "," : "");
      });
      out.push(`${indent}}${suffix}`);
    } else {
      out.push(`${indent}${prefix}${JSON.stringify(v)}${suffix}`);
    }
  };
  emit(value, "", "", "", "");
  return { text: out.join("\n"), lines };
}

/**
 * The path a refusal names, as `layout` keys it: `request body at
 * [1].priority: …` and `offers[1].id "x" is already used …` both name
 * `[1]…`; a path the document does not have falls back to its longest
 * prefix that it has.
 * @param {string} message
 * @param {string} documentName
 * @param {Map<string, number>} lines
 */
export function lineOf(message, documentName, lines) {
  const named = /^(?:request body at )?([\w.[\]-]+)/.exec(message)?.[1];
  if (named === undefined) return undefined;
  let path = named.startsWith(documentName) ? named.slice(documentName.length).replace(/^\./, "") : named;
  for (;;) {
    const line = lines.get(path);
    if (line !== undefined) return line;
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    if (cut <= 0) return undefined;
    path = path.slice(0, cut);
  }
}

/**
 * An editor of one document: `GET path` to read, `PUT path` to replace.
 * @param {string} heading
 * @param {string} path
 * @param {string} documentName  how the server's messages name it (`offers`)
 */
export function documentEditor(heading, path, documentName) {
  const id = `edit-${documentName}`;
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const area = /** @type {HTMLTextAreaElement} */ (h("textarea", { id, spellcheck: "false", "aria-describedby": `${id}-error` }));
  const note = h("div", { id: `${id}-error`, class: "note", "aria-live": "polite" });
  const version = h("span", { class: "muted" });
  /** @param {number | undefined} bad */
  const number = (bad) => {
    const count = area.value.split("\n").length;
    fill(gutter, ...Array.from({ length: count }, (_, i) => h("span", { class: i === bad ? "bad" : undefined }, `${i + 1}\n`)));
  };
  area.addEventListener("input", () => {
    area.removeAttribute("aria-invalid");
    number(undefined);
  });
  area.addEventListener("scroll", () => {
    gutter.scrollTop = area.scrollTop;
  });
  /** @param {{ version: number, body: unknown }} got */
  const show = (got) => {
    area.value = layout(got.body).text;
    fill(version, `v${got.version}`);
    number(undefined);
  };
  const save = h(
    "button",
    {
      type: "button",
      onclick: () =>
        void act(note, async () => {
          fill(note);
          /** @type {unknown} */
          let body;
          try {
            body = JSON.parse(area.value);
          } catch (e) {
            fill(note, h("p", { class: "error", role: "alert" }, t("editor.notJson", { message: String(e) })));
            area.setAttribute("aria-invalid", "true");
            return;
          }
          try {
            show(/** @type {{ version: number, body: unknown }} */ (await call("PUT", path, { body })));
            fill(note, h("p", { class: "ok", role: "status" }, t("common.done")));
          } catch (e) {
            if (!(e instanceof ApiError)) throw e;
            // The document as the server read it, laid out so the line of
            // the field it names can be pointed at.
            const laid = layout(body);
            area.value = laid.text;
            const line = lineOf(e.message, documentName, laid.lines);
            number(line);
            area.setAttribute("aria-invalid", "true");
            const where = line === undefined ? "" : t("editor.line", { line: line + 1 });
            fill(note, h("p", { class: "error field-error", role: "alert", "data-line": line === undefined ? undefined : line + 1 }, where, problemText(e)));
            if (line !== undefined) {
              const start = laid.text.split("\n").slice(0, line).join("\n").length + (line > 0 ? 1 : 0);
              area.focus();
              area.setSelectionRange(start, start + (laid.text.split("\n")[line]?.length ?? 0));
            }
          }
        }),
    },
    t("common.save"),
  );
  const box = h(
    "section",
    { class: "card editor" },
    h("h2", {}, heading, " ", version),
    h("div", { class: "code" }, gutter, area),
    note,
    save,
  );
  void (async () => {
    try {
      show(/** @type {{ version: number, body: unknown }} */ (await call("GET", path)));
    } catch (e) {
      fill(note, problem(e));
    }
  })();
  return box;
}
