// The editor's pointing at a refused field, without a browser: the line
// each path starts on, and the path each kind of server message names.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { layout, lineOf } from "../../../host/console/editor.js";

const offers = [
  { id: "a", channels: ["sms", "app_push"], priority: 1 },
  { id: "b", channels: [], priority: 2, ends_at: "2026-03-31T16:00:00Z" },
];

describe("the document editor", () => {
  it("lays a document out as indented JSON that reads back the same", () => {
    const { text } = layout(offers);
    assert.deepEqual(JSON.parse(text), offers);
    assert.equal(text, JSON.stringify(offers, null, 2));
  });

  it("knows the line of every field", () => {
    const { text, lines } = layout(offers);
    const at = (path: string) => text.split("\n")[lines.get(path)!]!.trim();
    assert.equal(at("[1].priority"), '"priority": 2,');
    assert.equal(at("[0].channels[1]"), '"app_push"');
    assert.equal(at("[1]"), "{");
    assert.equal(at("[1].channels"), '"channels": [],');
  });

  it("finds the field a refusal names, in each way the server names it", () => {
    const { lines } = layout(offers);
    const priority = lines.get("[1].priority");
    assert.equal(lineOf("request body at [1].priority: invalid type: string \"high\"", "offers", lines), priority);
    assert.equal(lineOf('offers[1].ends_at 2026-03-31T16:00:00Z is not after starts_at', "offers", lines), lines.get("[1].ends_at"));
    const policy = layout({ channels: { sms: { per_week: 1 } } });
    assert.equal(lineOf("request body at channels.sms.per_week: invalid type", "policy", policy.lines), policy.lines.get("channels.sms.per_week"));
  });

  it("falls back to the nearest field the document has, or to none", () => {
    const { lines } = layout(offers);
    assert.equal(lineOf("request body at [1].starts_at: premature end", "offers", lines), lines.get("[1]"));
    assert.equal(lineOf("line 1: no decision time", "offers", lines), undefined);
  });
});
