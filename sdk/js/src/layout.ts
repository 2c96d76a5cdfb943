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
// are decoded field by field when asked for, a string the first time a
// rule asks for it. The host starts each section at a multiple of 8 bytes
// (`layout::ALIGN`), so 32-bit fields are read as one typed array over the
// frame: under QuickJS an element of a Uint32Array costs about a fifth of
// a DataView call. A frame from a writer that does not align is copied
// once into one that is (`aligned`), so there is one way to read.

import { CODEC, encodeStrings } from "./utf8.js";

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

/** The record sizes of an answer frame's sections (the sixth, wake-ups, since contract 0.3.0). */
export const ANSWER_STRIDES = [STRIDE.u8, STRIDE.u32, STRIDE.tag, STRIDE.score, STRIDE.proposal, STRIDE.wake] as const;

/** The record sizes of a findings frame's sections. */
export const FINDINGS_STRIDES = [STRIDE.u8, STRIDE.u32, STRIDE.tagKey, STRIDE.scoreValue] as const;

/** A section of a frame: where its records start and how many there are. */
export interface Section {
  readonly offset: number;
  readonly count: number;
}

/**
 * A frame's strings: each checked (its bounds, its UTF-8) and decoded the
 * first time a rule asks for it, then kept (the host writes a short string
 * once per input frame, so an event kind is decoded once per decision).
 */
export class Strings {
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  /** Where the ends section starts, in words. */
  readonly #ends: number;
  readonly length: number;
  readonly #decoded: (string | undefined)[] = [];

  /** The strings of an opened frame (`Opened`), from its sections 0 and 1. */
  constructor(frame: Opened) {
    // (Indexing, not destructuring: under QuickJS an array pattern walks an iterator.)
    const text = frame.sections[0]!;
    const ends = frame.sections[1]!;
    this.#bytes = frame.bytes.subarray(text.offset, text.offset + text.count);
    this.#words = frame.u32;
    this.#ends = ends.offset >> 2;
    this.length = ends.count;
  }

  /** The string behind `atom`; throws `LayoutError` if it does not read. */
  get(atom: number): string {
    const cached = this.#decoded[atom];
    if (cached !== undefined) return cached;
    if (atom >= this.length) {
      throw new LayoutError(`string ${atom} is named; there are ${this.length}`);
    }
    const end = this.#words[this.#ends + atom]!;
    const start = atom === 0 ? 0 : this.#words[this.#ends + atom - 1]!;
    if (start > end || end > this.#bytes.length) {
      throw new LayoutError(`string ${atom} spans bytes ${start}..${end} of ${this.#bytes.length}`);
    }
    let text: string;
    try {
      text = CODEC.decode(this.#bytes, start, end);
    } catch (e) {
      // Ends inside a character, or starts inside one: not UTF-8 either way.
      throw new LayoutError(`string ${atom} (bytes ${start}..${end}) is not UTF-8: ${(e as Error).message}`);
    }
    this.#decoded[atom] = text;
    return text;
  }
}

/** A frame opened: its bytes, its 32-bit words, where its scalars start, its sections. */
export interface Opened {
  readonly bytes: Uint8Array;
  /** The frame's words, unsigned: the field at byte `at` (a multiple of 4) is `u32[at >> 2]`. */
  readonly u32: Uint32Array;
  readonly view: DataView;
  readonly scalars: number;
  readonly sections: readonly Section[];
}

/** A frame's magic as the little-endian word it starts with. */
function magicWord(magic: string): number {
  return (magic.charCodeAt(0) | (magic.charCodeAt(1) << 8) | (magic.charCodeAt(2) << 16) | (magic.charCodeAt(3) << 24)) >>> 0;
}

const MAGIC_WORDS = new Map<string, number>();

/**
 * Opens a frame: its header and every section's bounds checked, its words
 * viewed as a Uint32Array. The words must be 4-byte aligned: bytes that
 * are not, or a section of words that does not start at a multiple of 4
 * (a writer that does not align), are first copied into a frame laid out
 * so (`realigned`).
 */
export function openFrame(input: Uint8Array, magic: string, scalars: number, strides: readonly number[]): Opened {
  // A copy starts at offset 0 of its own buffer.
  const bytes = input.byteOffset % 4 === 0 ? input : input.slice();
  const u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  let word = MAGIC_WORDS.get(magic);
  if (word === undefined) MAGIC_WORDS.set(magic, (word = magicWord(magic)));
  if (bytes.length < 8 || u32[0] !== word) throw new LayoutError(`not a ${magic} frame (magic)`);
  const revision = u32[1]! & 0xffff;
  if (revision !== REVISION) {
    throw new LayoutError(`${magic} frame of layout revision ${revision}; this reads ${REVISION}`);
  }
  const count = u32[1]! >>> 16;
  if (count < strides.length) {
    throw new LayoutError(`${magic} frame with ${count} sections; ${strides.length} are needed`);
  }
  const table = (8 + scalars) >> 2;
  const header = 8 + scalars + 8 * count;
  if (bytes.length < header) {
    throw new LayoutError(`${magic} frame of ${bytes.length} bytes is shorter than its header`);
  }
  const sections: Section[] = [];
  let misaligned = false;
  for (let i = 0; i < strides.length; i++) {
    const stride = strides[i]!;
    const offset = u32[table + 2 * i]!;
    const records = u32[table + 2 * i + 1]!;
    const end = offset + records * stride;
    if (offset < header || end > bytes.length) {
      throw new LayoutError(
        `${magic} section ${i} (${records} records of ${stride} bytes at ${offset}) is outside the frame's ${bytes.length} bytes`,
      );
    }
    if (stride !== 1 && offset % 4 !== 0) misaligned = true;
    sections.push({ offset, count: records });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const opened = { bytes, u32, view, scalars: 8, sections };
  return misaligned ? realigned(opened, scalars, strides) : opened;
}

/**
 * `f` copied with each section at a multiple of 8 bytes (the header and
 * the known sections; sections after them are dropped, as a reader
 * ignores them).
 */
function realigned(f: Opened, scalars: number, strides: readonly number[]): Opened {
  const header = 8 + scalars + 8 * strides.length;
  let size = header;
  const offsets = f.sections.map((s, i) => {
    const at = Math.ceil(size / ALIGN) * ALIGN;
    size = at + s.count * strides[i]!;
    return at;
  });
  const bytes = new Uint8Array(Math.ceil(size / ALIGN) * ALIGN);
  bytes.set(f.bytes.subarray(0, 8 + scalars));
  const view = new DataView(bytes.buffer);
  view.setUint16(6, strides.length, true);
  f.sections.forEach((s, i) => {
    view.setUint32(8 + scalars + 8 * i, offsets[i]!, true);
    view.setUint32(8 + scalars + 8 * i + 4, s.count, true);
    bytes.set(f.bytes.subarray(s.offset, s.offset + s.count * strides[i]!), offsets[i]);
  });
  return {
    bytes,
    u32: new Uint32Array(bytes.buffer),
    view,
    scalars: 8,
    sections: f.sections.map((s, i) => ({ offset: offsets[i]!, count: s.count })),
  };
}

function checkStage(stage: number, what: string): void {
  if (stage !== NO_STAGE && stage >= STAGES.length) {
    throw new LayoutError(`${what}: ${stage} is not a lifecycle stage`);
  }
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
  /** The frame's 32-bit words, unsigned (`u32[byteOffset >> 2]`). */
  readonly u32: Uint32Array;
  /** The same words, signed. */
  readonly i32: Int32Array;
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
  /** The seed's low and high 32 bits (see `seed`). */
  readonly seedWords: readonly [number, number];
  readonly tzOffsetMinutes: number;
  readonly customerId: number;
  readonly mode: Mode;
  readonly priorStage: Stage | undefined;

  /** Reads and checks an input frame; throws `LayoutError` if it does not read. */
  constructor(bytes: Uint8Array) {
    const f = openFrame(bytes, "RHI2", 32, INPUT_STRIDES);
    const u32 = f.u32;
    const s = f.scalars >> 2;
    const sections = f.sections;
    const trigger = sections[9]!;
    const flags = u32[s + 6]!;
    const mode = MODES[flags & 0xff];
    if (mode === undefined) throw new LayoutError(`input mode ${flags & 0xff} is not known`);
    checkStage((flags >>> 8) & 0xff, "input prior stage");
    this.view = f.view;
    this.u32 = u32;
    this.i32 = new Int32Array(u32.buffer, u32.byteOffset, u32.length);
    this.now = this.i32[s + 1]! * 4294967296 + u32[s]!;
    this.seedWords = [u32[s + 2]!, u32[s + 3]!];
    this.tzOffsetMinutes = this.i32[s + 4]!;
    this.customerId = u32[s + 5]!;
    this.mode = mode;
    this.priorStage = STAGES[(flags >>> 8) & 0xff];
    this.strings = new Strings(f);
    this.identities = sections[2]!;
    this.attributes = sections[3]!;
    this.events = sections[4]!;
    this.props = sections[5]!;
    this.priorTags = sections[6]!;
    this.offers = sections[7]!;
    this.offerChannels = sections[8]!;
    this.trigger = trigger;
    if (trigger.count > 1) throw new LayoutError("an input has at most one trigger");
    if (this.customerId >= this.strings.length) throw new LayoutError("the customer id names no string");
  }

  /** A seed fixed per decision. */
  get seed(): bigint {
    return (BigInt(this.seedWords[1]) << 32n) | BigInt(this.seedWords[0]);
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
    return this.i32[(at + 36) >> 2]! * 4294967296 + this.u32[(at + 32) >> 2]!;
  }

  /** An optional atom of an event: field 4 channel, 8 SKU, 12 category. */
  eventAtom(at: number, field: 4 | 8 | 12): string | undefined {
    const atom = this.u32[(at + field) >> 2]!;
    return atom === NONE ? undefined : this.strings.get(atom);
  }

  /** An event's kind. */
  eventKind(at: number): string {
    return this.strings.get(this.u32[at >> 2]!);
  }

  /** An event's amount in minor units. */
  eventAmount(at: number): bigint | undefined {
    return (this.u32[(at + 24) >> 2]! & 1) !== 0 ? this.view.getBigInt64(at + 40, true) : undefined;
  }

  /** An event's props: its span in the props section. */
  eventProps(at: number): Section {
    const start = this.u32[(at + 16) >> 2]!;
    return this.span("an event's props", this.props, STRIDE.attribute, start, this.u32[(at + 20) >> 2]!);
  }

  /** The key of the `i`th attribute of `section` (attributes or a run of props). */
  attributeKey(section: Section, i: number): string {
    return this.strings.get(this.u32[(section.offset + i * STRIDE.attribute) >> 2]!);
  }

  /** The `i`th attribute of `section` (attributes or a run of props). */
  attribute(section: Section, i: number): [string, Value] {
    const at = section.offset + i * STRIDE.attribute;
    const key = this.attributeKey(section, i);
    return [key, this.attributeValue(key, at)];
  }

  /** The value of the attribute at `at`, whose key is `key`. */
  attributeValue(key: string, at: number): Value {
    const v = this.view;
    switch (v.getUint8(at + 4)) {
      case 0:
        return { kind: "text", value: this.strings.get(this.u32[(at + 8) >> 2]!) };
      case 1:
        return { kind: "int", value: v.getBigInt64(at + 8, true) };
      case 2:
        return { kind: "float", value: v.getFloat64(at + 8, true) };
      case 3:
        return { kind: "flag", value: (this.u32[(at + 8) >> 2]! | this.u32[(at + 12) >> 2]!) !== 0 };
      case 4:
        return { kind: "time", value: this.i32[(at + 12) >> 2]! * 4294967296 + this.u32[(at + 8) >> 2]! };
      default:
        throw new LayoutError(`${key}: value kind ${v.getUint8(at + 4)} is not known`);
    }
  }

  /** Record `i` of a section of atom pairs (identities, prior tags). */
  pair(section: Section, i: number): [string, string] {
    const w = (section.offset + i * 8) >> 2;
    return [this.strings.get(this.u32[w]!), this.strings.get(this.u32[w + 1]!)];
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
    const f = openFrame(bytes, "RHF2", 8, FINDINGS_STRIDES);
    const u32 = f.u32;
    const tags = f.sections[2]!;
    const scores = f.sections[3]!;
    const stage = u32[f.scalars >> 2]! & 0xff;
    checkStage(stage, "findings stage");
    this.stage = STAGES[stage];
    const tagList: [string, string][] = [];
    const scoreList: [string, number][] = [];
    if (tags.count + scores.count > 0) {
      const strings = new Strings(f);
      for (let i = 0, w = tags.offset >> 2; i < tags.count; i++, w += 2) {
        tagList.push([strings.get(u32[w]!), strings.get(u32[w + 1]!)]);
      }
      for (let i = 0; i < scores.count; i++) {
        const at = scores.offset + i * STRIDE.scoreValue;
        scoreList.push([strings.get(u32[at >> 2]!), f.view.getFloat64(at + 8, true)]);
      }
    }
    this.tags = tagList;
    this.scores = scoreList;
  }
}

/**
 * A growing byte buffer of little-endian fields, emptied to be used again,
 * also viewed as 32-bit words and 64-bit floats: a record of the answer
 * (its size a multiple of 8) is reserved once and its fields stored as
 * words, each an element store instead of a call.
 */
class Bytes {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  words = new Uint32Array(this.buf.buffer);
  floats = new Float64Array(this.buf.buffer);
  len = 0;

  reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      const bigger = new Uint8Array(Math.ceil(Math.max(this.buf.length * 2, this.len + n) / 8) * 8);
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
      this.words = new Uint32Array(bigger.buffer);
      this.floats = new Float64Array(bigger.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  /** Reserves a record of `bytes` (a multiple of 8 in a section of such records); returns its first word's index. */
  record(bytes: number): number {
    return this.reserve(bytes) >> 2;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.buf[at] = v;
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
}

/** Stores `v`, a whole number within ±2^53 (an instant), as an i64 in words `w` and `w + 1`. */
function storeInt(words: Uint32Array, w: number, v: number): void {
  const lo = v % 4294967296;
  words[w] = lo < 0 ? lo + 4294967296 : lo;
  words[w + 1] = Math.floor(v / 4294967296);
}

/**
 * Writes a frame of any kind: strings as they are added, records section by
 * section, then the header in front, each section from a multiple of 8
 * bytes (`FrameWriter` in `layout/src/lib.rs`). `reset` empties it for the
 * next frame, keeping its buffers.
 */
export class FrameWriter {
  readonly #magic: string;
  #magicWord: number | undefined;
  readonly #sections: Bytes[];
  readonly #strides: readonly number[];
  /** The strings, in atom order: sections 0 and 1 are written from them at `finish`. */
  readonly #strings: string[] = [];

  constructor(magic: string, strides: readonly number[]) {
    this.#magic = magic;
    this.#strides = strides;
    this.#sections = strides.map(() => new Bytes());
  }

  /** Empties every section. */
  reset(): void {
    for (const section of this.#sections) section.len = 0;
    this.#strings.length = 0;
  }

  /** Adds a string; returns its atom. */
  text(s: string): number {
    return this.#strings.push(s) - 1;
  }

  /** The section `i` (from 2), to append a record to. */
  section(i: number): Bytes {
    return this.#sections[i]!;
  }

  /** How many records section `i` (from 2) holds. */
  count(i: number): number {
    return this.#sections[i]!.len / this.#strides[i]!;
  }

  /** The frame, with `scalars` (already little-endian, a multiple of 4 bytes) in its header. */
  finish(scalars: Uint8Array): Uint8Array {
    const sections = this.#sections;
    const { bytes: text, ends } = encodeStrings(this.#strings);
    const lengths = (i: number) => (i === 0 ? text.length : i === 1 ? 4 * ends.length : sections[i]!.len);
    const table = 8 + scalars.length;
    let size = table + 8 * sections.length;
    const offsets: number[] = [];
    for (let i = 0; i < sections.length; i++) {
      size = Math.ceil(size / ALIGN) * ALIGN;
      offsets.push(size);
      size += lengths(i);
    }
    const out = new Uint8Array(Math.ceil(size / 4) * 4);
    const words = new Uint32Array(out.buffer);
    words[0] = (this.#magicWord ??= magicWord(this.#magic));
    words[1] = REVISION | (sections.length << 16);
    out.set(scalars, 8);
    for (let i = 0, w = table >> 2; i < sections.length; i++, w += 2) {
      words[w] = offsets[i]!;
      words[w + 1] = lengths(i) / this.#strides[i]!;
    }
    out.set(text, offsets[0]);
    const endsAt = offsets[1]! >> 2;
    for (let i = 0; i < ends.length; i++) words[endsAt + i] = ends[i]!;
    for (let i = 2; i < sections.length; i++) {
      const section = sections[i]!;
      if (section.len > 0) out.set(section.buf.subarray(0, section.len), offsets[i]);
    }
    return out;
  }
}

/** Where a writer starts each section (`layout::ALIGN`). */
export const ALIGN = 8;

/**
 * An answer frame's writer: what one stage returns. One is kept and reset
 * for each stage (`reset`): its buffers are made once.
 */
export class AnswerWriter {
  // Six sections: the sixth holds wake-ups (contract 0.3.0).
  readonly #frame = new FrameWriter("RHO2", ANSWER_STRIDES);
  readonly #scalars = new Uint32Array(4);
  #stage = NO_STAGE;
  #stageReason = NONE;
  #stageRule = NONE;

  /** Empties it for the next answer. */
  reset(): void {
    this.#frame.reset();
    this.#stage = NO_STAGE;
    this.#stageReason = NONE;
    this.#stageRule = NONE;
  }

  // Each record's fields are stored as words one by one: under QuickJS a
  // helper taking them as an array or returning an object costs an
  // allocation per record (+3.8% on the recorded coffee fuel).
  tag(group: string, name: string, reason: string, ruleId: string, expiresAt: number | undefined): void {
    const f = this.#frame;
    const out = f.section(2);
    const w = out.record(STRIDE.tag);
    const words = out.words;
    words[w] = f.text(group);
    words[w + 1] = f.text(name);
    words[w + 2] = f.text(reason);
    words[w + 3] = f.text(ruleId);
    words[w + 4] = expiresAt === undefined ? 0 : 1;
    words[w + 5] = 0;
    storeInt(words, w + 6, expiresAt ?? 0);
  }

  score(name: string, value: number, reason: string, ruleId: string): void {
    const f = this.#frame;
    const out = f.section(3);
    const w = out.record(STRIDE.score);
    const words = out.words;
    words[w] = f.text(name);
    words[w + 1] = f.text(reason);
    words[w + 2] = f.text(ruleId);
    words[w + 3] = 0;
    out.floats[(w + 4) >> 1] = value;
  }

  proposal(offerId: string, channel: string, reason: string, ruleId: string, score: number): void {
    const f = this.#frame;
    const out = f.section(4);
    const w = out.record(STRIDE.proposal);
    const words = out.words;
    words[w] = f.text(offerId);
    words[w + 1] = f.text(channel);
    words[w + 2] = f.text(reason);
    words[w + 3] = f.text(ruleId);
    out.floats[(w + 4) >> 1] = score;
  }

  stage(stage: Stage, reason: string, ruleId: string): void {
    this.#stage = STAGES.indexOf(stage);
    this.#stageReason = this.#frame.text(reason);
    this.#stageRule = this.#frame.text(ruleId);
  }

  /** A wake-up at `at` (ms since the epoch), or `undefined` to clear the key's. */
  wake(key: string, at: number | undefined, reason: string | undefined): void {
    const f = this.#frame;
    const out = f.section(5);
    const w = out.record(STRIDE.wake);
    const words = out.words;
    words[w] = f.text(key);
    words[w + 1] = at === undefined || reason === undefined ? NONE : f.text(reason);
    words[w + 2] = at === undefined ? 1 : 0;
    words[w + 3] = 0;
    storeInt(words, w + 4, at ?? 0);
  }

  finish(): Uint8Array {
    // The stage (a byte, then three of padding), its reason and rule (atoms), four bytes of padding.
    const scalars = this.#scalars;
    scalars[0] = this.#stage;
    scalars[1] = this.#stageReason;
    scalars[2] = this.#stageRule;
    return this.#frame.finish(new Uint8Array(scalars.buffer));
  }
}

export { STRIDE };
