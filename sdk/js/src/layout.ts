// The binary layout of contract rulehost:plugin@0.2.0, layout revision 1,
// as `layout/src/lib.rs` defines it byte by byte: input (`RHI2`) and
// findings (`RHF2`) frames read in place, answer (`RHO2`) frames written.
//
// A frame is untrusted bytes. `InputFrame` and `FindingsFrame` check the
// header, every section's bounds, the scalars and stages once; every other
// field is checked where it is read — an atom names a string, a string's
// bytes lie in order within the text and are UTF-8, a span lies within its
// section, a value kind is known — and a field that fails throws
// `LayoutError`, which the session turns into `invalid_input`. So a rule
// pays only for what it reads: under QuickJS, checking every record up
// front cost more than the coffee rules themselves (issue 26: 3.4M of the
// 4.8M instructions an empty plugin spent on a 57-event customer). Records
// are decoded field by field when asked for, through one DataView over the
// frame, and a string the first time a rule asks for it.

import { decodeUtf8, encodeUtf8Into, utf8Length } from "./utf8.js";

/** The layout revision this SDK reads and writes. */
export const REVISION = 1;

/**
 * The most bytes of UTF-8 a name in an answer may hold (a tag's group and
 * name, a score's name, a rule id), as the host checks answers
 * (`layout::NAME_BYTES`): a name made of input text must be checked against
 * it (`utf8Length`), or the host refuses the answer.
 */
export const NAME_BYTES = 128;
/** An absent optional atom. */
export const NONE = 0xffff_ffff;
const NO_STAGE = 0xff;

/** The contract's lifecycle stages, in the order frames number them. */
export const STAGES = ["introduction", "growth", "maturity", "dormancy", "churned", "reactivated"] as const;
/** A lifecycle stage. */
export type Stage = (typeof STAGES)[number];

/** A frame that does not read, with what is wrong. */
export class LayoutError extends Error {
  override name = "LayoutError";
}

const STRIDE = {
  u8: 1,
  u32: 4,
  identity: 8,
  attribute: 16,
  event: 48,
  tagKey: 8,
  offer: 48,
  scoreValue: 16,
  tag: 32,
  score: 24,
  proposal: 24,
  wake: 24,
} as const;

/** The record sizes of an input frame's sections (`layout/src/input.rs`). */
export const INPUT_STRIDES = [
  STRIDE.u8,
  STRIDE.u32,
  STRIDE.identity,
  STRIDE.attribute,
  STRIDE.event,
  STRIDE.attribute,
  STRIDE.tagKey,
  STRIDE.offer,
  STRIDE.u32,
  STRIDE.event,
] as const;

/** The record sizes of a findings frame's sections. */
export const FINDINGS_STRIDES = [STRIDE.u8, STRIDE.u32, STRIDE.tagKey, STRIDE.scoreValue] as const;

/** A section of a frame: where its records start and how many there are. */
export interface Section {
  readonly offset: number;
  readonly count: number;
}

/**
 * A frame's strings: each checked (its bounds, its UTF-8) and decoded the
 * first time a rule asks for it, then kept.
 */
export class Strings {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #ends: Section;
  readonly #decoded: (string | undefined)[];

  constructor(bytes: Uint8Array, view: DataView, text: Section, ends: Section) {
    this.#bytes = bytes.subarray(text.offset, text.offset + text.count);
    this.#view = view;
    this.#ends = ends;
    this.#decoded = new Array<string | undefined>(ends.count);
  }

  /** How many strings. */
  get length(): number {
    return this.#ends.count;
  }

  /** The string behind `atom`; throws `LayoutError` if it does not read. */
  get(atom: number): string {
    const cached = this.#decoded[atom];
    if (cached !== undefined) return cached;
    if (atom >= this.#ends.count) {
      throw new LayoutError(`string ${atom} is named; there are ${this.#ends.count}`);
    }
    const end = this.#view.getUint32(this.#ends.offset + 4 * atom, true);
    const start = atom === 0 ? 0 : this.#view.getUint32(this.#ends.offset + 4 * (atom - 1), true);
    if (start > end || end > this.#bytes.length) {
      throw new LayoutError(`string ${atom} spans bytes ${start}..${end} of ${this.#bytes.length}`);
    }
    let text: string;
    try {
      text = decodeUtf8(this.#bytes, start, end);
    } catch (e) {
      // Ends inside a character, or starts inside one: not UTF-8 either way.
      throw new LayoutError(`string ${atom} (bytes ${start}..${end}) is not UTF-8: ${(e as Error).message}`);
    }
    this.#decoded[atom] = text;
    return text;
  }
}

/** A frame opened: its scalars' offset and its sections. */
interface Opened {
  view: DataView;
  bytes: Uint8Array;
  scalars: number;
  sections: Section[];
}

function open(bytes: Uint8Array, magic: string, scalars: number, strides: readonly number[]): Opened {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = bytes.length >= 8 ? String.fromCharCode(...bytes.subarray(0, 4)) : "";
  if (found !== magic) throw new LayoutError(`not a ${magic} frame (magic)`);
  const revision = view.getUint16(4, true);
  if (revision !== REVISION) {
    throw new LayoutError(`${magic} frame of layout revision ${revision}; this reads ${REVISION}`);
  }
  const count = view.getUint16(6, true);
  if (count < strides.length) {
    throw new LayoutError(`${magic} frame with ${count} sections; ${strides.length} are needed`);
  }
  const table = 8 + scalars;
  const header = table + 8 * count;
  if (bytes.length < header) {
    throw new LayoutError(`${magic} frame of ${bytes.length} bytes is shorter than its header`);
  }
  const sections = strides.map((stride, i) => {
    const offset = view.getUint32(table + 8 * i, true);
    const records = view.getUint32(table + 8 * i + 4, true);
    const end = offset + records * stride;
    if (offset < header || end > bytes.length) {
      throw new LayoutError(
        `${magic} section ${i} (${records} records of ${stride} bytes at ${offset}) is outside the frame's ${bytes.length} bytes`,
      );
    }
    return { offset, count: records };
  });
  return { view, bytes, scalars: 8, sections };
}

function checkStage(stage: number, what: string): void {
  if (stage !== NO_STAGE && stage >= STAGES.length) {
    throw new LayoutError(`${what}: ${stage} is not a lifecycle stage`);
  }
}

function stageAt(view: DataView, at: number): Stage | undefined {
  return STAGES[view.getUint8(at)];
}

/** Why the decision is being made. */
export type Mode = "live" | "batch" | "simulate" | "shadow";
const MODES: readonly Mode[] = ["live", "batch", "simulate", "shadow"];

/** A typed attribute or property value, decoded. */
export type Value =
  | { readonly kind: "text"; readonly value: string }
  | { readonly kind: "int"; readonly value: bigint }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "flag"; readonly value: boolean }
  | { readonly kind: "time"; readonly value: number };

/** The input frame, checked. Field offsets follow `layout/src/input.rs`. */
export class InputFrame {
  readonly view: DataView;
  readonly strings: Strings;
  readonly identities: Section;
  readonly attributes: Section;
  readonly events: Section;
  readonly props: Section;
  readonly priorTags: Section;
  readonly offers: Section;
  readonly offerChannels: Section;
  readonly trigger: Section;
  readonly now: number;
  readonly seed: bigint;
  readonly tzOffsetMinutes: number;
  readonly customerId: number;
  readonly mode: Mode;
  readonly priorStage: Stage | undefined;

  /** Reads and checks an input frame; throws `LayoutError` if it does not read. */
  constructor(bytes: Uint8Array) {
    const f = open(bytes, "RHI2", 32, INPUT_STRIDES);
    const v = f.view;
    const s = f.scalars;
    const [text, ends, identities, attributes, events, props, priorTags, offers, offerChannels, trigger] =
      f.sections as [Section, Section, Section, Section, Section, Section, Section, Section, Section, Section];
    const mode = MODES[v.getUint8(s + 24)];
    if (mode === undefined) throw new LayoutError(`input mode ${v.getUint8(s + 24)} is not known`);
    checkStage(v.getUint8(s + 25), "input prior stage");
    this.view = v;
    this.now = Number(v.getBigInt64(s, true));
    this.seed = v.getBigUint64(s + 8, true);
    this.tzOffsetMinutes = v.getInt32(s + 16, true);
    this.customerId = v.getUint32(s + 20, true);
    this.mode = mode;
    this.priorStage = stageAt(v, s + 25);
    this.strings = new Strings(bytes, v, text, ends);
    this.identities = identities;
    this.attributes = attributes;
    this.events = events;
    this.props = props;
    this.priorTags = priorTags;
    this.offers = offers;
    this.offerChannels = offerChannels;
    this.trigger = trigger;
    if (trigger.count > 1) throw new LayoutError("an input has at most one trigger");
    if (this.customerId >= this.strings.length) throw new LayoutError("the customer id names no string");
  }

  /** The records `start..start + count` of `section`, or a `LayoutError` naming `what`. */
  span(what: string, section: Section, stride: number, start: number, count: number): Section {
    if (start + count > section.count) {
      throw new LayoutError(`${what} spans ${start}..+${count} of ${section.count} records`);
    }
    return { offset: section.offset + start * stride, count };
  }

  /** The string behind an atom. */
  text(atom: number): string {
    return this.strings.get(atom);
  }

  /** Where event `i` of `section` (events or the trigger) starts. */
  eventAt(section: Section, i: number): number {
    return section.offset + i * STRIDE.event;
  }

  /** An event's time, in milliseconds since the Unix epoch. */
  eventTime(at: number): number {
    // Two halves instead of a BigInt (an allocation per read): exact for
    // every instant within ±2^53 ms, some 285,000 years.
    return this.view.getInt32(at + 36, true) * 4294967296 + this.view.getUint32(at + 32, true);
  }

  /** An optional atom of an event: field 4 channel, 8 SKU, 12 category. */
  eventAtom(at: number, field: 4 | 8 | 12): string | undefined {
    const atom = this.view.getUint32(at + field, true);
    return atom === NONE ? undefined : this.text(atom);
  }

  /** An event's kind. */
  eventKind(at: number): string {
    return this.text(this.view.getUint32(at, true));
  }

  /** An event's amount in minor units. */
  eventAmount(at: number): bigint | undefined {
    return (this.view.getUint32(at + 24, true) & 1) !== 0 ? this.view.getBigInt64(at + 40, true) : undefined;
  }

  /** An event's props: its span in the props section. */
  eventProps(at: number): Section {
    const start = this.view.getUint32(at + 16, true);
    return this.span("an event's props", this.props, STRIDE.attribute, start, this.view.getUint32(at + 20, true));
  }

  /** The `i`th attribute of `section` (attributes or a run of props). */
  attribute(section: Section, i: number): [string, Value] {
    const at = section.offset + i * STRIDE.attribute;
    const v = this.view;
    const key = this.text(v.getUint32(at, true));
    switch (v.getUint8(at + 4)) {
      case 0:
        return [key, { kind: "text", value: this.text(v.getUint32(at + 8, true)) }];
      case 1:
        return [key, { kind: "int", value: v.getBigInt64(at + 8, true) }];
      case 2:
        return [key, { kind: "float", value: v.getFloat64(at + 8, true) }];
      case 3:
        return [key, { kind: "flag", value: v.getBigUint64(at + 8, true) !== 0n }];
      case 4:
        return [key, { kind: "time", value: Number(v.getBigInt64(at + 8, true)) }];
      default:
        throw new LayoutError(`${key}: value kind ${v.getUint8(at + 4)} is not known`);
    }
  }

  /** Record `i` of a section of atom pairs (identities, prior tags). */
  pair(section: Section, i: number): [string, string] {
    const at = section.offset + i * 8;
    return [this.text(this.view.getUint32(at, true)), this.text(this.view.getUint32(at + 4, true))];
  }

  /** Where offer `i` starts. */
  offerAt(i: number): number {
    return this.offers.offset + i * STRIDE.offer;
  }
}

/** The findings frame, checked. */
export class FindingsFrame {
  readonly stage: Stage | undefined;
  readonly tags: readonly (readonly [string, string])[];
  readonly scores: readonly (readonly [string, number])[];

  /** Reads and checks a findings frame; throws `LayoutError` if it does not read. */
  constructor(bytes: Uint8Array) {
    const f = open(bytes, "RHF2", 8, FINDINGS_STRIDES);
    const v = f.view;
    const [text, ends, tags, scores] = f.sections as [Section, Section, Section, Section];
    checkStage(v.getUint8(f.scalars), "findings stage");
    const strings = new Strings(bytes, v, text, ends);
    this.stage = stageAt(v, f.scalars);
    const tagList: [string, string][] = [];
    for (let i = 0; i < tags.count; i++) {
      const at = tags.offset + i * STRIDE.tagKey;
      tagList.push([strings.get(v.getUint32(at, true)), strings.get(v.getUint32(at + 4, true))]);
    }
    const scoreList: [string, number][] = [];
    for (let i = 0; i < scores.count; i++) {
      const at = scores.offset + i * STRIDE.scoreValue;
      scoreList.push([strings.get(v.getUint32(at, true)), v.getFloat64(at + 8, true)]);
    }
    this.tags = tagList;
    this.scores = scoreList;
  }
}

/** A growing byte buffer of little-endian fields. */
class Bytes {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  len = 0;

  reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }

  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }

  i64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, v, true);
  }

  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }

  bytes(b: Uint8Array): void {
    // Reserve first: it may replace the buffer.
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }

  get written(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Writes a frame of any kind: strings as they are added, records section by
 * section, then the header in front (`FrameWriter` in `layout/src/lib.rs`).
 */
export class FrameWriter {
  readonly #magic: string;
  readonly #sections: Bytes[];
  readonly #strides: readonly number[];

  constructor(magic: string, strides: readonly number[]) {
    this.#magic = magic;
    this.#strides = strides;
    this.#sections = strides.map(() => new Bytes());
  }

  /** Adds a string; returns its atom. */
  text(s: string): number {
    const atom = this.#sections[1]!.len / 4;
    const text = this.#sections[0]!;
    const at = text.reserve(utf8Length(s));
    encodeUtf8Into(s, text.buf, at);
    this.#sections[1]!.u32(this.#sections[0]!.len);
    return atom;
  }

  /** The section `i`, to append a record to. */
  section(i: number): Bytes {
    return this.#sections[i]!;
  }

  /** How many records section `i` holds. */
  count(i: number): number {
    return this.#sections[i]!.len / this.#strides[i]!;
  }

  /** The frame, with `scalars` (already little-endian) in its header. */
  finish(scalars: Uint8Array): Uint8Array {
    const header = 8 + scalars.length + 8 * this.#sections.length;
    const out = new Bytes();
    const magic = out.reserve(this.#magic.length);
    encodeUtf8Into(this.#magic, out.buf, magic);
    const revision = out.reserve(4);
    out.view.setUint16(revision, REVISION, true);
    out.view.setUint16(revision + 2, this.#sections.length, true);
    out.bytes(scalars);
    let offset = header;
    this.#sections.forEach((section, i) => {
      out.u32(offset);
      out.u32(section.len / this.#strides[i]!);
      offset += section.len;
    });
    for (const section of this.#sections) out.bytes(section.written);
    return out.written.slice();
  }
}

/** An answer frame's writer: what one stage returns. */
export class AnswerWriter {
  // Six sections: the sixth holds wake-ups (contract 0.3.0).
  readonly #frame = new FrameWriter("RHO2", [
    STRIDE.u8,
    STRIDE.u32,
    STRIDE.tag,
    STRIDE.score,
    STRIDE.proposal,
    STRIDE.wake,
  ]);
  #stage: [number, number, number] | undefined;

  tag(group: string, name: string, reason: string, ruleId: string, expiresAt: number | undefined): void {
    const atoms = [group, name, reason, ruleId].map((s) => this.#frame.text(s));
    const out = this.#frame.section(2);
    atoms.forEach((a) => out.u32(a));
    out.u32(expiresAt === undefined ? 0 : 1);
    out.u32(0);
    out.i64(BigInt(expiresAt ?? 0));
  }

  score(name: string, value: number, reason: string, ruleId: string): void {
    const atoms = [name, reason, ruleId].map((s) => this.#frame.text(s));
    const out = this.#frame.section(3);
    atoms.forEach((a) => out.u32(a));
    out.u32(0);
    out.f64(value);
  }

  proposal(offerId: string, channel: string, reason: string, ruleId: string, score: number): void {
    const atoms = [offerId, channel, reason, ruleId].map((s) => this.#frame.text(s));
    const out = this.#frame.section(4);
    atoms.forEach((a) => out.u32(a));
    out.f64(score);
  }

  stage(stage: Stage, reason: string, ruleId: string): void {
    this.#stage = [STAGES.indexOf(stage), this.#frame.text(reason), this.#frame.text(ruleId)];
  }

  /** A wake-up at `at` (ms since the epoch), or `undefined` to clear the key's. */
  wake(key: string, at: number | undefined, reason: string | undefined): void {
    const k = this.#frame.text(key);
    const r = at === undefined || reason === undefined ? NONE : this.#frame.text(reason);
    const out = this.#frame.section(5);
    out.u32(k);
    out.u32(r);
    out.u32(at === undefined ? 1 : 0);
    out.u32(0);
    out.i64(BigInt(at ?? 0));
  }

  finish(): Uint8Array {
    const scalars = new Uint8Array(16);
    const v = new DataView(scalars.buffer);
    const [stage, reason, rule] = this.#stage ?? [NO_STAGE, NONE, NONE];
    v.setUint8(0, stage);
    v.setUint32(4, reason, true);
    v.setUint32(8, rule, true);
    return this.#frame.finish(scalars);
  }
}

export { STRIDE };
