// Unit-testing rules in Node (`sdk/src/testing.rs` and `native.rs`): build
// an input with `TestInput`, findings with `TestFindings`, run the stages
// with `runSession` against a host whose config you set, and read the
// answers back as objects. The frames are the ones the host would send, and
// the session is the one that runs in the sandbox.

import {
  FINDINGS_STRIDES,
  FrameWriter,
  INPUT_STRIDES,
  NONE,
  STAGES,
  STRIDE,
  Strings,
  ANSWER_STRIDES,
  openFrame,
  type Mode,
  type Stage,
  type Value,
} from "./layout.js";
import { PURCHASE, REFUND } from "./kinds.js";
import { Session, type Host, type Level, type Plugin } from "./session.js";
import { parseRfc3339 } from "./time.js";

const MODES: readonly Mode[] = ["live", "batch", "simulate", "shadow"];

function time(at: string): number {
  const ms = parseRfc3339(at);
  if (ms === undefined) throw new RangeError(`not an RFC 3339 time: ${JSON.stringify(at)}`);
  return ms;
}

/** A value for `TestInput.attr` and `TestEvent.prop`: a bigint is a whole number. */
export type TestValue = string | bigint | number | boolean | { time: string };

function toValue(v: TestValue): Value {
  if (typeof v === "string") return { kind: "text", value: v };
  if (typeof v === "bigint") return { kind: "int", value: v };
  if (typeof v === "number") return { kind: "float", value: v };
  if (typeof v === "boolean") return { kind: "flag", value: v };
  return { kind: "time", value: time(v.time) };
}

/** An event for `TestInput`. */
export class TestEvent {
  channelName: string | undefined;
  amount: bigint | undefined;
  skuName: string | undefined;
  categoryName: string | undefined;
  readonly properties: [string, Value][] = [];
  readonly at: number;

  constructor(
    readonly kind: string,
    at: string | number,
  ) {
    this.at = typeof at === "number" ? at : time(at);
  }

  channel(channel: string): this {
    this.channelName = channel;
    return this;
  }

  amountMinor(amount: bigint | number): this {
    this.amount = BigInt(amount);
    return this;
  }

  sku(sku: string): this {
    this.skuName = sku;
    return this;
  }

  category(category: string): this {
    this.categoryName = category;
    return this;
  }

  prop(key: string, value: TestValue): this {
    this.properties.push([key, toValue(value)]);
    return this;
  }
}

/** An offer for `TestInput`. */
export class TestOffer {
  channelList: string[] = [];
  valueMinor = 0n;
  priorityValue = 0;
  startsAt: number | undefined;
  endsAt: number | undefined;

  constructor(
    readonly id: string,
    readonly kind: string,
  ) {}

  channels(...channels: string[]): this {
    this.channelList = channels;
    return this;
  }

  value(valueMinor: bigint | number): this {
    this.valueMinor = BigInt(valueMinor);
    return this;
  }

  priority(priority: number): this {
    this.priorityValue = priority;
    return this;
  }

  valid(startsAt: string | undefined, endsAt: string | undefined): this {
    this.startsAt = startsAt === undefined ? undefined : time(startsAt);
    this.endsAt = endsAt === undefined ? undefined : time(endsAt);
    return this;
  }
}

/** A decision's input, built up call by call. */
export class TestInput {
  readonly now: number;
  tzOffsetMinutes = 0;
  seedValue = 0n;
  modeValue: Mode = "live";
  customerId = "test-customer";
  readonly identityList: [string, string][] = [];
  readonly attributes: [string, Value][] = [];
  readonly eventList: TestEvent[] = [];
  triggerEvent: TestEvent | undefined;
  readonly priorTags: [string, string][] = [];
  priorStageValue: Stage | undefined;
  readonly offers: TestOffer[] = [];

  private constructor(now: string) {
    this.now = time(now);
  }

  /** An input at `now` (RFC 3339), UTC, seed 0, live, customer "test-customer". */
  static at(now: string): TestInput {
    return new TestInput(now);
  }

  tz(minutes: number): this {
    this.tzOffsetMinutes = minutes;
    return this;
  }

  seed(seed: bigint): this {
    this.seedValue = seed;
    return this;
  }

  mode(mode: Mode): this {
    this.modeValue = mode;
    return this;
  }

  customer(id: string): this {
    this.customerId = id;
    return this;
  }

  identity(kind: string, id: string): this {
    this.identityList.push([kind, id]);
    return this;
  }

  attr(key: string, value: TestValue): this {
    this.attributes.push([key, toValue(value)]);
    return this;
  }

  /** Adds an event in time order (after any at the same instant). */
  event(event: TestEvent): this {
    let at = 0;
    while (at < this.eventList.length && this.eventList[at]!.at <= event.at) at++;
    this.eventList.splice(at, 0, event);
    return this;
  }

  purchase(at: string, amountMinor: bigint | number): this {
    return this.event(new TestEvent(PURCHASE, at).amountMinor(amountMinor));
  }

  refund(at: string, amountMinor: bigint | number): this {
    return this.event(new TestEvent(REFUND, at).amountMinor(amountMinor));
  }

  trigger(event: TestEvent): this {
    this.triggerEvent = event;
    return this;
  }

  priorTag(group: string, name: string): this {
    this.priorTags.push([group, name]);
    return this;
  }

  priorStage(stage: Stage): this {
    this.priorStageValue = stage;
    return this;
  }

  offer(offer: TestOffer): this {
    this.offers.push(offer);
    return this;
  }

  /** The input frame (`RHI2`) the host would send. */
  toFrame(): Uint8Array {
    const w = new FrameWriter("RHI2", INPUT_STRIDES);
    const customer = w.text(this.customerId);
    for (const [kind, id] of this.identityList) {
      const atoms = [w.text(kind), w.text(id)];
      atoms.forEach((a) => w.section(2).u32(a));
    }
    for (const [key, value] of this.attributes) writeAttribute(w, 3, key, value);
    for (const event of this.eventList) writeEvent(w, 4, event);
    if (this.triggerEvent !== undefined) writeEvent(w, 9, this.triggerEvent);
    for (const [group, name] of this.priorTags) {
      const atoms = [w.text(group), w.text(name)];
      atoms.forEach((a) => w.section(6).u32(a));
    }
    for (const offer of this.offers) {
      const start = w.count(8);
      for (const channel of offer.channelList) {
        const atom = w.text(channel);
        w.section(8).u32(atom);
      }
      const [id, kind] = [w.text(offer.id), w.text(offer.kind)];
      const out = w.section(7);
      [id, kind, start, offer.channelList.length].forEach((word) => out.u32(word));
      const priority = out.reserve(4);
      out.view.setInt32(priority, offer.priorityValue, true);
      out.u32((offer.startsAt === undefined ? 0 : 1) | (offer.endsAt === undefined ? 0 : 2));
      out.i64(offer.valueMinor);
      out.i64(BigInt(offer.startsAt ?? 0));
      out.i64(BigInt(offer.endsAt ?? 0));
    }
    const scalars = new Uint8Array(32);
    const v = new DataView(scalars.buffer);
    v.setBigInt64(0, BigInt(this.now), true);
    v.setBigUint64(8, this.seedValue, true);
    v.setInt32(16, this.tzOffsetMinutes, true);
    v.setUint32(20, customer, true);
    v.setUint8(24, MODES.indexOf(this.modeValue));
    v.setUint8(25, this.priorStageValue === undefined ? 0xff : STAGES.indexOf(this.priorStageValue));
    return w.finish(scalars);
  }
}

function writeAttribute(w: FrameWriter, section: number, key: string, value: Value): void {
  const keyAtom = w.text(key);
  const text = value.kind === "text" ? w.text(value.value) : 0;
  const out = w.section(section);
  out.u32(keyAtom);
  const kind = ["text", "int", "float", "flag", "time"].indexOf(value.kind);
  [kind, 0, 0, 0].forEach((b) => out.u8(b));
  const at = out.reserve(8);
  switch (value.kind) {
    case "text":
      out.view.setBigUint64(at, BigInt(text), true);
      break;
    case "int":
      out.view.setBigInt64(at, value.value, true);
      break;
    case "float":
      out.view.setFloat64(at, value.value, true);
      break;
    case "flag":
      out.view.setBigUint64(at, value.value ? 1n : 0n, true);
      break;
    case "time":
      out.view.setBigInt64(at, BigInt(value.value), true);
      break;
  }
}

function writeEvent(w: FrameWriter, section: number, event: TestEvent): void {
  const start = w.count(5);
  for (const [key, value] of event.properties) writeAttribute(w, 5, key, value);
  const props = w.count(5) - start;
  const optional = (s: string | undefined) => (s === undefined ? NONE : w.text(s));
  const [channel, sku, category] = [optional(event.channelName), optional(event.skuName), optional(event.categoryName)];
  const kind = w.text(event.kind);
  const out = w.section(section);
  [kind, channel, sku, category, start, props, event.amount === undefined ? 0 : 1, 0].forEach((word) => out.u32(word));
  out.i64(BigInt(event.at));
  out.i64(event.amount ?? 0n);
}

/** The findings before a `score` or `target` stage. */
export class TestFindings {
  readonly tags: [string, string][] = [];
  readonly scores: [string, number][] = [];
  stageValue: Stage | undefined;

  tag(group: string, name: string): this {
    this.tags.push([group, name]);
    return this;
  }

  score(name: string, value: number): this {
    this.scores.push([name, value]);
    return this;
  }

  stage(stage: Stage): this {
    this.stageValue = stage;
    return this;
  }

  /** The findings frame (`RHF2`) the host would send. */
  toFrame(): Uint8Array {
    const w = new FrameWriter("RHF2", FINDINGS_STRIDES);
    for (const [group, name] of this.tags) {
      const atoms = [w.text(group), w.text(name)];
      atoms.forEach((a) => w.section(2).u32(a));
    }
    for (const [name, value] of this.scores) {
      const atom = w.text(name);
      w.section(3).u32(atom);
      w.section(3).u32(0);
      w.section(3).f64(value);
    }
    const scalars = new Uint8Array(8);
    scalars[0] = this.stageValue === undefined ? 0xff : STAGES.indexOf(this.stageValue);
    return w.finish(scalars);
  }
}

/** A host for tests: config from a map, log lines kept. */
export class TestHost implements Host {
  readonly settings: Map<string, string>;
  readonly logs: [Level, string][] = [];

  constructor(settings: Record<string, string | number | boolean> = {}) {
    this.settings = new Map(Object.entries(settings).map(([k, v]) => [k, String(v)]));
  }

  log(level: Level, message: string): void {
    this.logs.push([level, message]);
  }

  config(key: string): string | undefined {
    return this.settings.get(key);
  }
}

/** A tag, score, stage or proposal as an answer frame holds it. */
export interface Answer {
  tags: { group: string; name: string; reason: string; ruleId: string; expiresAt: number | undefined }[];
  scores: { name: string; value: number; reason: string; ruleId: string }[];
  stage: { stage: Stage; reason: string; ruleId: string } | undefined;
  proposals: { offerId: string; channel: string; reason: string; ruleId: string; score: number }[];
  /** Wake-ups (contract 0.3.0): `at` undefined clears the key's. */
  wakes: { key: string; at: number | undefined; reason: string | undefined }[];
}

/** Reads an answer frame (`RHO2`) as the host does, minus its policy checks. */
export function readAnswer(bytes: Uint8Array): Answer {
  // Before contract 0.3.0 an answer had five sections.
  const sections = bytes.length >= 8 ? Math.min(bytes[6]! | (bytes[7]! << 8), ANSWER_STRIDES.length) : 0;
  const f = openFrame(bytes, "RHO2", 16, ANSWER_STRIDES.slice(0, Math.max(sections, 5)));
  const v = f.view;
  const section = (i: number) => f.sections[i]!;
  const strings = new Strings(f);
  const text = (at: number) => strings.get(v.getUint32(at, true));
  const rows = <T>(i: number, stride: number, row: (at: number) => T): T[] => {
    const s = section(i);
    return Array.from({ length: s.count }, (_, k) => row(s.offset + k * stride));
  };
  const stageIndex = v.getUint8(8);
  return {
    tags: rows(2, STRIDE.tag, (at) => ({
      group: text(at),
      name: text(at + 4),
      reason: text(at + 8),
      ruleId: text(at + 12),
      expiresAt: (v.getUint32(at + 16, true) & 1) !== 0 ? Number(v.getBigInt64(at + 24, true)) : undefined,
    })),
    scores: rows(3, STRIDE.score, (at) => ({
      name: text(at),
      reason: text(at + 4),
      ruleId: text(at + 8),
      value: v.getFloat64(at + 16, true),
    })),
    stage:
      stageIndex === 0xff ? undefined : { stage: STAGES[stageIndex]!, reason: text(8 + 4), ruleId: text(8 + 8) },
    proposals: rows(4, STRIDE.proposal, (at) => ({
      offerId: text(at),
      channel: text(at + 4),
      reason: text(at + 8),
      ruleId: text(at + 12),
      score: v.getFloat64(at + 16, true),
    })),
    wakes:
      sections < 6
        ? []
        : rows(5, STRIDE.wake, (at) => {
            const clear = (v.getUint32(at + 8, true) & 1) !== 0;
            return {
              key: text(at),
              at: clear ? undefined : Number(v.getBigInt64(at + 16, true)),
              reason: clear ? undefined : text(at + 4),
            };
          }),
  };
}

/** A session run natively, its answers read back as objects. */
export class TestSession {
  readonly #session: Session;

  constructor(plugin: Plugin, input: TestInput | Uint8Array, host: Host = new TestHost()) {
    this.#session = new Session(plugin, host, input instanceof TestInput ? input.toFrame() : input);
  }

  tag(): Answer["tags"] {
    return readAnswer(this.#session.tag()).tags;
  }

  score(findings: TestFindings = new TestFindings()): Pick<Answer, "scores" | "stage"> {
    const answer = readAnswer(this.#session.score(findings.toFrame()));
    return { scores: answer.scores, stage: answer.stage };
  }

  target(findings: TestFindings = new TestFindings()): Answer["proposals"] {
    return readAnswer(this.#session.target(findings.toFrame())).proposals;
  }

  /** The target stage's whole answer: its proposals and wake-ups. */
  targetAnswer(findings: TestFindings = new TestFindings()): Pick<Answer, "proposals" | "wakes"> {
    const answer = readAnswer(this.#session.target(findings.toFrame()));
    return { proposals: answer.proposals, wakes: answer.wakes };
  }
}
