// A simulation or shadow report: what a candidate would change, as
// stage bars, a transition matrix, the offer mix and the touches left
// after the contact policy.

import { named, t, tagName } from "./i18n.js";
import { h, table } from "./ui.js";

/**
 * @typedef {{ baseline: number, candidate: number }} Pair
 * @typedef {{ customers: number, changed: number, failed: Pair, stages: (Pair & { stage: string })[],
 *   transitions: { from: string, to: string, customers: number }[],
 *   offers: { offer_id: string, proposed: Pair, selected: Pair }[],
 *   tags: (Pair & { tag: string, gained: number, lost: number })[],
 *   channels: (Pair & { name: string })[], suppressed: (Pair & { name: string })[] }} Report
 */

/** @param {string} stage */
function stageName(stage) {
  if (stage === "none") return t("report.none");
  if (stage === "error") return t("report.error");
  return named("stage", stage);
}

/** @param {Pair} p */
const pair = (p) => (p.baseline === p.candidate ? String(p.baseline) : `${p.baseline} → ${p.candidate}`);

/** @param {Report} report */
export function reportView(report) {
  const most = Math.max(1, ...report.stages.flatMap((s) => [s.baseline, s.candidate]));
  /** @param {number} n @param {string} kind */
  const bar = (n, kind) => {
    // Through the CSSOM: the console's content security policy refuses
    // style attributes.
    const el = h("div", { class: `bar ${kind}` });
    el.style.width = `${(100 * n) / most}%`;
    return el;
  };
  const stages = report.stages.filter((s) => s.baseline > 0 || s.candidate > 0);
  const order = stages.map((s) => s.stage);
  /** @type {Map<string, number>} */
  const moved = new Map(report.transitions.map((x) => [`${x.from}\u0000${x.to}`, x.customers]));
  return h(
    "div",
    { class: "report", "data-testid": "report" },
    h("p", {}, h("strong", {}, t("report.customers", { customers: report.customers, changed: report.changed, failed: pair(report.failed) }))),
    h("h3", {}, t("report.stages")),
    h(
      "div",
      { class: "bars", role: "table", "aria-label": t("report.stages") },
      stages.flatMap((s) => [
        h("span", { role: "rowheader" }, stageName(s.stage)),
        h("div", { role: "cell", title: `${t("report.baseline")} ${s.baseline} · ${t("report.candidate")} ${s.candidate}` }, bar(s.baseline, "baseline"), bar(s.candidate, "candidate")),
        h("span", { role: "cell" }, pair(s)),
      ]),
    ),
    h("h3", {}, t("report.transitions")),
    h(
      "table",
      { class: "matrix", "data-testid": "transitions" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), order.map((to) => h("th", { scope: "col" }, stageName(to))))),
      h(
        "tbody",
        {},
        order.map((from) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, stageName(from)),
            order.map((to) => {
              const n = moved.get(`${from}\u0000${to}`) ?? 0;
              return h("td", { class: from === to ? "same" : n > 0 ? "moved" : undefined }, n === 0 ? "·" : n);
            }),
          ),
        ),
      ),
    ),
    h("h3", {}, t("report.tags")),
    table([t("decision.tags"), `${t("report.baseline")} → ${t("report.candidate")}`, t("report.gained"), t("report.lost")], report.tags, (x) => {
      const [group = "", name = ""] = x.tag.split("/");
      return [tagName(group, name), pair(x), x.gained, x.lost];
    }),
    h("h3", {}, t("report.offers")),
    table([t("decision.offer"), t("report.proposed"), t("report.selected")], report.offers, (o) => [o.offer_id, pair(o.proposed), pair(o.selected)]),
    h("h3", {}, t("report.channels")),
    table([t("decision.channel"), `${t("report.baseline")} → ${t("report.candidate")}`], report.channels, (c) => [c.name, pair(c)]),
    h("h3", {}, t("report.suppressed")),
    table([t("decision.rule"), `${t("report.baseline")} → ${t("report.candidate")}`], report.suppressed, (c) => [c.name, pair(c)]),
  );
}
