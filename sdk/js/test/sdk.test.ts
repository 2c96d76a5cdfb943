// The SDK natively: frames read as the Rust SDK reads them, helpers that
// answer as the Rust helpers do (the examples of `sdk/src`), errors that
// name what is wrong.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  Breakpoints,
  Config,
  LayoutError,
  Lifecycle,
  LocalDate,
  Offers,
  PluginError,
  Profile,
  Tag,
  bool,
  computeRfm,
  counted,
  debugString,
  definePlugin,
  endOfLocalDay,
  exportRules,
  i64,
  kinds,
  localDate,
  parseRfc3339,
  segmentOf,
  u32,
} from "../src/index.js";
import { JS_CODEC, Utf8Error, base64Codec, decodeUtf8, encodeStrings, encodeUtf8Into, utf8Length, webCodec, type Codec } from "../src/utf8.js";
import { INPUT_STRIDES, InputFrame } from "../src/layout.js";
import { TestEvent, TestFindings, TestHost, TestInput, TestOffer, TestSession, readAnswer } from "../src/testing.js";

const config = (settings: Record<string, string>) => new Config((key) => settings[key]);
const profile = (input: TestInput) => new Profile(new InputFrame(input.toFrame()));

describe("time", () => {
  it("counts days like the Rust SDK, before the epoch too", () => {
    assert.deepEqual(LocalDate.fromDaysSinceEpoch(0), new LocalDate(1970, 1, 1));
    assert.deepEqual(LocalDate.fromDaysSinceEpoch(11_016), new LocalDate(2000, 2, 29));
    assert.deepEqual(LocalDate.fromDaysSinceEpoch(47_540), new LocalDate(2100, 2, 28));
    assert.deepEqual(LocalDate.fromDaysSinceEpoch(-1), new LocalDate(1969, 12, 31));
    for (const days of [-700_000, -1, 0, 11_016, 20_513, 47_541, 2_000_000]) {
      const text = `${LocalDate.fromDaysSinceEpoch(days).toString()}T00:00:00Z`;
      assert.equal(parseRfc3339(text), days * 86_400_000, text);
    }
  });

  it("reads offsets and fractions, and refuses impossible dates", () => {
    assert.equal(parseRfc3339("2026-03-07T18:00:00.250+08:00"), Date.UTC(2026, 2, 7, 10, 0, 0, 250));
    for (const bad of ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-07T24:00:00Z", "2026-03-07T10:00:00", "2026-03-07T10:00:00+8:00", "2026-03-07T10:00:00.Z", "2026-03-07", ""]) {
      assert.equal(parseRfc3339(bad), undefined, bad);
    }
  });

  it("knows the local day in the tenant's zone", () => {
    const t = 1_772_827_200_000; // 2026-03-06T20:00:00Z = 2026-03-07T04:00 in UTC+8
    assert.equal(endOfLocalDay(t, 480), 1_772_899_200_000);
    assert.equal(endOfLocalDay(t, 0), 1_772_841_600_000);
    assert.equal(localDate(t, 480).toString(), "2026-03-07");
  });
});

describe("config", () => {
  it("names the key and what was expected", () => {
    const c = config({ "coffee.dormant_after_days": " 14 ", "coffee.vip": "maybe", big: "4294967296", list: "1, 2,x" });
    assert.equal(c.required("coffee.dormant_after_days", u32), 14);
    assert.equal(c.or("coffee.member_day", u32, 7), 7);
    assert.throws(() => c.required("coffee.vip", bool), {
      code: "config_invalid",
      message: 'config key `coffee.vip` is "maybe", expected true or false',
    });
    assert.throws(() => c.required("missing", u32), { code: "config_missing", message: "config key `missing` is not set" });
    assert.throws(() => c.required("big", u32), { message: 'config key `big` is "4294967296", expected a whole number from 0 to 4294967295' });
    assert.throws(() => c.list("list", i64), { message: 'config key `list` is "1, 2,x", expected comma-separated items, each a whole number' });
    assert.equal(c.required("big", i64), 4_294_967_296n);
  });

  it("quotes values as Rust's {:?} does", () => {
    assert.equal(debugString('say "hi"\n\ttab\\'), '"say \\"hi\\"\\n\\ttab\\\\"');
    assert.equal(debugString("\u0001é"), '"\\u{1}é"');
  });
});

describe("frames", () => {
  const input = TestInput.at("2026-03-07T10:00:00Z")
    .customer("c-1")
    .identity("wechat_openid", "o-1")
    .attr("member_level", "gold")
    .attr("points", 1200n)
    .event(new TestEvent("purchase", "2026-03-05T09:00:00Z").amountMinor(3200).channel("sms").category("coffee").prop("store", "s-9"))
    .event(new TestEvent("view", "2026-03-01T09:00:00Z"))
    .event(new TestEvent("purchase", "2026-03-09T09:00:00Z").amountMinor(100))
    .offer(new TestOffer("o1", "cross_sell").channels("wecom_1v1", "sms").priority(20).value(500));

  it("read back what was written, events in time order and none after now", () => {
    const p = profile(input);
    assert.equal(p.customerId, "c-1");
    assert.equal(p.identity("wechat_openid"), "o-1");
    assert.deepEqual(p.attr("points"), { kind: "int", value: 1200n });
    assert.deepEqual([...p.events()].map((e) => [e.kind, e.category, e.amountMinor]), [
      ["view", undefined, undefined],
      ["purchase", "coffee", 3200n],
    ]);
    assert.equal([...p.allEvents()].length, 3);
    assert.deepEqual([...p.eventsOf(kinds.PURCHASE)][0]!.prop("store"), { kind: "text", value: "s-9" });
    const offers = new Offers(new InputFrame(input.toFrame()));
    const offer = offers.get("o1")!;
    assert.deepEqual([...offer.channels()], ["wecom_1v1", "sms"]);
    assert.deepEqual(offer.channelFor(p), { channel: "sms", why: "last active there" });
    assert.equal(offer.valueMinor, 500n);
  });

  it("refuse bytes that do not read, naming what is wrong", () => {
    const frame = input.toFrame();
    assert.throws(() => new InputFrame(frame.subarray(0, frame.length - 3)), (e: unknown) => e instanceof LayoutError && /^RHI2 section \d+ /.test(e.message));
    const other = frame.slice();
    other[0] = 0x58;
    assert.throws(() => new InputFrame(other), { message: "not a RHI2 frame (magic)" });
    // Customer atom past the strings.
    const atom = frame.slice();
    new DataView(atom.buffer).setUint32(8 + 20, 9999, true);
    assert.throws(() => new InputFrame(atom), { message: "the customer id names no string" });
    // A string that ends inside a character.
    const utf8 = TestInput.at("2026-03-07T10:00:00Z").customer("é").toFrame();
    const view = new DataView(utf8.buffer);
    const ends = view.getUint32(8 + 32 + 8, true);
    view.setUint32(ends, 1, true);
    // Strings are checked where they are read: the frame opens, the string
    // does not read.
    const opened = new InputFrame(utf8);
    assert.throws(() => opened.text(0), (e: unknown) => e instanceof LayoutError && e.message.startsWith("string 0 (bytes 0..1) is not UTF-8"));
    assert.throws(() => opened.text(99), { message: "string 99 is named; there are 1" });
  });
});

describe("rfm", () => {
  it("computes over the window with refunds, and saturates", () => {
    const input = TestInput.at("2026-03-07T10:00:00Z")
      .purchase("2026-03-05T09:00:00Z", 3_200)
      .purchase("2026-02-20T09:00:00Z", 2_800)
      .refund("2026-02-21T09:00:00Z", 800);
    assert.deepEqual(computeRfm(profile(input), input.now, 365), { recencyDays: 2, frequency: 2, monetaryMinor: 5_200n });
    const max = 2n ** 63n - 1n;
    const huge = TestInput.at("2026-03-10T02:00:00Z")
      .purchase("2026-03-01T01:00:00Z", max)
      .purchase("2026-03-02T01:00:00Z", max)
      .purchase("2026-03-03T01:00:00Z", -500);
    assert.deepEqual(computeRfm(profile(huge), huge.now, 90), { recencyDays: 7, frequency: 3, monetaryMinor: max });
  });

  it("scores and segments like the Rust example", () => {
    const recency = Breakpoints.of([7, 30, 90, 180]);
    const frequency = Breakpoints.of([2, 3, 5, 8]);
    const [r, f] = [recency.scoreLowerIsBetter(2), frequency.score(2)];
    assert.deepEqual([r, f], [5, 2]);
    assert.equal(segmentOf(r, f), "potential-loyalists");
    assert.equal(segmentOf(1, 5), "cant-lose-them");
    assert.throws(() => Breakpoints.fromConfig(config({ b: "1,2,2,3" }), "b"), {
      code: "config_invalid",
      message: 'config key `b` is "1,2,2,3", expected 4 comma-separated ascending numbers',
    });
  });
});

describe("lifecycle", () => {
  const rules = new Lifecycle(14, 45, 3, 10, 90, "coffee.stage");

  it("places a customer as the Rust example does", () => {
    const input = TestInput.at("2026-03-07T10:00:00Z")
      .purchase("2026-03-01T09:00:00Z", 2_800)
      .purchase("2026-03-03T09:00:00Z", 3_000)
      .purchase("2026-03-06T09:00:00Z", 2_800);
    const verdict = rules.classify(profile(input), input.now);
    assert.equal(verdict.stage, "growth");
    assert.equal(verdict.ruleId, "coffee.stage.growth");
    assert.equal(verdict.reasonText, "3 purchases in the last 90 days (growth from 3, maturity from 10)");
  });

  it("sees a comeback after a gap and after a dormant decision", () => {
    const gap = TestInput.at("2026-03-07T10:00:00Z").purchase("2026-01-01T09:00:00Z", 1).purchase("2026-03-06T09:00:00Z", 1);
    assert.equal(rules.classify(profile(gap), gap.now).reasonText, "bought 1 days ago after a 64-day gap (dormant after 14)");
    const prior = TestInput.at("2026-03-07T10:00:00Z").purchase("2026-03-06T09:00:00Z", 1).priorStage("dormancy");
    assert.equal(rules.classify(profile(prior), prior.now).stage, "reactivated");
  });

  it("checks its thresholds against each other", () => {
    const c = config({ "x.dormant_after_days": "14", "x.churned_after_days": "10", "x.growth_min_purchases": "3", "x.maturity_min_purchases": "8" });
    assert.throws(() => Lifecycle.fromConfig(c, "x", "x.stage"), {
      message: 'config key `x.churned_after_days` is "10", expected more than 14 (`x.dormant_after_days`)',
    });
  });
});

describe("sessions", () => {
  const hello = definePlugin(() => ({
    tag: (ctx, p) => [new Tag("hello", p.customerId).rule("r").reason(`at ${ctx.today.toString()}`)],
    target: (ctx) => {
      throw new PluginError("config_missing", `nothing at ${ctx.now}`);
    },
  }));

  it("answer in frames the host reads", () => {
    const session = new TestSession(hello, TestInput.at("2026-03-07T10:00:00Z").customer("c-9"));
    assert.deepEqual(session.tag(), [{ group: "hello", name: "c-9", reason: "at 2026-03-07", ruleId: "r", expiresAt: undefined }]);
    assert.deepEqual(session.score(new TestFindings().stage("growth")), { scores: [], stage: undefined });
    // A plugin without stages answers empty frames.
    const empty = new (exportRules(definePlugin(() => ({})), new TestHost()).Session)(
      TestInput.at("2026-03-07T10:00:00Z").toFrame(),
    ) as { tag(): Uint8Array };
    assert.deepEqual(readAnswer(empty.tag()), { tags: [], scores: [], stage: undefined, proposals: [], wakes: [] });
  });

  it("read a frame whose sections are not aligned, or whose bytes start at an odd offset, as its aligned copy", () => {
    const rules = definePlugin(() => ({
      tag: (ctx, p) =>
        p.eventsOf("purchase").map((e) => new Tag("bought", e.category ?? "-").rule("r").reason(`${e.at} ${e.amountMinor ?? 0n} ${e.channel ?? ""}`)),
    }));
    const input = TestInput.at("2026-03-07T10:00:00Z")
      .event(new TestEvent("purchase", "2026-03-01T09:00:00Z").amountMinor(2850).category("latte").channel("store"))
      .event(new TestEvent("view", "2026-03-02T09:00:00Z").category("tea"))
      .event(new TestEvent("purchase", "2026-03-03T09:00:00Z").amountMinor(990).category("bagel"));
    const aligned = input.toFrame();
    // The same frame as a writer that packs sections back to back writes it.
    const view = new DataView(aligned.buffer, aligned.byteOffset);
    const table = 8 + 32;
    const count = view.getUint16(6, true);
    let at = table + 8 * count;
    const packed = new Uint8Array(aligned.length);
    packed.set(aligned.subarray(0, at));
    const out = new DataView(packed.buffer);
    for (let i = 0; i < count; i++) {
      const offset = view.getUint32(table + 8 * i, true);
      const piece = aligned.subarray(offset, offset + view.getUint32(table + 8 * i + 4, true) * INPUT_STRIDES[i]!);
      out.setUint32(table + 8 * i, at, true);
      packed.set(piece, at);
      at += piece.length;
    }
    const unaligned = packed.subarray(0, at);
    assert.ok([...Array(count).keys()].some((i) => out.getUint32(table + 8 * i, true) % 4 !== 0), "a section is unaligned");
    const odd = new Uint8Array(unaligned.length + 1);
    odd.set(unaligned, 1);
    const expected = new TestSession(rules, aligned).tag();
    assert.equal(expected.length, 2);
    assert.deepEqual(new TestSession(rules, unaligned).tag(), expected);
    assert.deepEqual(new TestSession(rules, odd.subarray(1)).tag(), expected);
  });

  it("fail every stage with invalid_input when the input does not read", () => {
    const frame = TestInput.at("2026-03-07T10:00:00Z").toFrame();
    const session = new TestSession(hello, frame.subarray(0, frame.length - 3));
    for (const stage of [() => session.tag(), () => session.score(), () => session.target()]) {
      assert.throws(stage, (e: unknown) => e instanceof PluginError && e.code === "invalid_input" && e.message.startsWith("the host sent an input that does not read: RHI2 section"));
    }
  });

  it("cross the contract as its error record, and log a bug before failing", () => {
    const host = new TestHost();
    const buggy = definePlugin(() => ({
      tag: () => {
        throw new TypeError("oops");
      },
    }));
    const rules = exportRules(hello, host);
    const session = new rules.Session(TestInput.at("2026-03-07T10:00:00Z").toFrame()) as { target(f: Uint8Array): Uint8Array };
    assert.throws(() => session.target(new TestFindings().toFrame()), (e: unknown) => {
      assert.deepEqual(e, { code: "config_missing", message: `nothing at ${Date.UTC(2026, 2, 7, 10)}` });
      return true;
    });
    const broken = new (exportRules(buggy, host).Session)(TestInput.at("2026-03-07T10:00:00Z").toFrame()) as { tag(): Uint8Array };
    assert.throws(() => broken.tag(), TypeError);
    assert.equal(host.logs[0]![0], "error");
    assert.match(host.logs[0]![1], /^TypeError: oops/);
  });

  it("ask for wake-ups in the answer's sixth section, and say what woke them", () => {
    const waking = definePlugin(() => ({
      target: (ctx) => {
        const woken = ctx.woken;
        if (woken !== undefined) ctx.log("info", `woken by ${woken.key}: ${woken.reason}`);
        ctx.wakeAt("unpaid:o-1", ctx.now + 30 * 60_000, "order o-1 unpaid");
        ctx.clearWake("dormancy-check");
        return [];
      },
    }));
    const at = "2026-03-07T10:00:00Z";
    const host = new TestHost();
    const timer = new TestEvent("timer", at).prop("key", "unpaid:o-0").prop("reason", "order o-0 unpaid");
    const answer = new TestSession(waking, TestInput.at(at).trigger(timer), host).targetAnswer();
    assert.deepEqual(answer.wakes, [
      { key: "unpaid:o-1", at: Date.UTC(2026, 2, 7, 10, 30), reason: "order o-1 unpaid" },
      { key: "dormancy-check", at: undefined, reason: undefined },
    ]);
    assert.deepEqual(host.logs, [["info", "woken by unpaid:o-0: order o-0 unpaid"]]);
  });

  it("count like the Rust SDK", () => {
    assert.equal(counted(1, "purchase", "purchases"), "1 purchase");
    assert.equal(counted(3n, "purchase", "purchases"), "3 purchases");
  });
});

describe("utf8", () => {
  const samples = ["", "purchase", "拿铁咖啡", "☕️🥐", "👩‍👩‍👧‍👦", "مرحبا", "e\u0301clair", "tab\tand\nnewline", "\u007f\u0080\u07ff\u0800\uffff", "\u{10000}\u{10ffff}"];

  it("writes what TextEncoder writes and reads it back, lone surrogates as U+FFFD", () => {
    for (const text of [...samples, "lone \ud800 high", "lone \udc00 low", "end \ud83d"]) {
      const expected = new TextEncoder().encode(text);
      assert.equal(utf8Length(text), expected.length, text);
      const buf = new Uint8Array(expected.length + 2);
      encodeUtf8Into(text, buf, 1);
      assert.deepEqual(buf.subarray(1, 1 + expected.length), expected, text);
      assert.equal(decodeUtf8(buf, 1, 1 + expected.length), new TextDecoder().decode(expected), text);
    }
  });

  it("refuses what TextDecoder refuses", () => {
    const fatal = new TextDecoder("utf-8", { fatal: true });
    const bad = [[0x80], [0xc0, 0x80], [0xc2], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8], [0x61, 0xe6, 0x8b]];
    for (const bytes of bad) {
      const b = new Uint8Array(bytes);
      assert.throws(() => fatal.decode(b));
      assert.throws(() => decodeUtf8(b, 0, b.length), Utf8Error, bytes.join(","));
      for (const codec of codecs()) assert.throws(() => codec.decode(b, 0, b.length), Utf8Error, `${codec.name}: ${bytes.join(",")}`);
    }
  });

  // Every codec an engine may get: QuickJS's base64 one is given Node's
  // base64 (Node 20 has no Uint8Array.fromBase64), the rest is the same code.
  function codecs(): Codec[] {
    const base64 = base64Codec({
      fromBase64: (text) => new Uint8Array(Buffer.from(text, "base64")),
      toBase64: (bytes) => Buffer.from(bytes).toString("base64"),
      btoa,
      atob,
    });
    return [JS_CODEC, webCodec()!, base64!];
  }

  it("encodes and decodes alike with every codec", () => {
    for (const codec of codecs()) {
      for (const text of [...samples, "lone \ud800 high", "lone \udc00 low", "end \ud83d"]) {
        const expected = new TextEncoder().encode(text);
        assert.deepEqual(codec.encode(text), expected, `${codec.name}: ${text}`);
        const framed = new Uint8Array([0x21, ...expected, 0x21]);
        assert.equal(codec.decode(framed, 1, 1 + expected.length), new TextDecoder().decode(expected), `${codec.name}: ${text}`);
      }
    }
  });

  it("writes a string table as each string on its own would be", () => {
    const tables = [
      ["purchase", "", "store", "coffee.tag.new-customer"],
      ["拿铁", "a", "☕️🥐", "spent ¥628.66"],
      ["half \ud83d", "\ude00 half", "x"],
      // Latin-1 letters that read as the start of their own UTF-8.
      ["é", "\u00c3\u0083", "\u00c3\u0083\u00c2\u0083", "a"],
      [],
    ];
    for (const codec of codecs()) {
      for (const strings of tables) {
        const { bytes, ends } = encodeStrings(strings, codec);
        const pieces = strings.map((s) => new TextEncoder().encode(s));
        let end = 0;
        assert.deepEqual(ends, pieces.map((p) => (end += p.length)), `${codec.name}: ${strings.join("|")}`);
        assert.deepEqual(bytes, new Uint8Array(pieces.flatMap((p) => [...p])), `${codec.name}: ${strings.join("|")}`);
      }
    }
  });
});
