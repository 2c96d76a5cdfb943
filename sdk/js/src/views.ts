// Views over the decision's input, read in place from the frame
// (`sdk/src/view.rs`): authors see the profile, its events, the catalog and
// the findings as objects with the Rust SDK's accessors and never touch the
// string table. Times are milliseconds since the epoch; money is a bigint of
// minor units (amounts reach 2^63 - 1, past what a number holds exactly).

import type { FindingsFrame, InputFrame, Section, Stage, Value } from "./layout.js";
import { compareText } from "./text.js";

export type { Value } from "./layout.js";

/** A value's text, if it is text. */
export function asText(value: Value | undefined): string | undefined {
  return value?.kind === "text" ? value.value : undefined;
}

/** A value's whole number, if it is one (a whole float too, as in Rust). */
export function asInt(value: Value | undefined): bigint | undefined {
  if (value?.kind === "int") return value.value;
  if (value?.kind === "float" && Number.isInteger(value.value) && Math.abs(value.value) < 9.0e15) {
    return BigInt(value.value);
  }
  return undefined;
}

/** A value as a number, if it is numeric. */
export function asNumber(value: Value | undefined): number | undefined {
  if (value?.kind === "int") return Number(value.value);
  return value?.kind === "float" ? value.value : undefined;
}

/** A value's flag, if it is one. */
export function asBool(value: Value | undefined): boolean | undefined {
  return value?.kind === "flag" ? value.value : undefined;
}

/** A value's instant, if it is a time. */
export function asTime(value: Value | undefined): number | undefined {
  return value?.kind === "time" ? value.value : undefined;
}

function* attributes(frame: InputFrame, section: Section): Generator<[string, Value]> {
  for (let i = 0; i < section.count; i++) yield frame.attribute(section, i);
}

function find(frame: InputFrame, section: Section, key: string): Value | undefined {
  for (let i = 0; i < section.count; i++) {
    const [k, v] = frame.attribute(section, i);
    if (k === key) return v;
  }
  return undefined;
}

/**
 * What the views of one decision's frame share across its stages: how
 * many events are past, found without making any view; each event's view,
 * made once when a list is first asked for; and the lists rules ask for,
 * built once and handed out again (frozen).
 */
interface Shared {
  readonly past: number;
  all?: readonly Event[];
  events?: readonly Event[];
  newestFirst?: readonly Event[];
  readonly byKind: Map<string, readonly Event[]>;
}

const shared = new WeakMap<InputFrame, Shared>();

function sharedOf(frame: InputFrame): Shared {
  let views = shared.get(frame);
  if (views === undefined) {
    // Events are in time order: a binary search for the first after now.
    let [lo, hi] = [0, frame.events.count];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (frame.eventTime(frame.eventAt(frame.events, mid)) <= frame.now) lo = mid + 1;
      else hi = mid;
    }
    views = { past: lo, byKind: new Map() };
    shared.set(frame, views);
  }
  return views;
}

function allOf(frame: InputFrame, views: Shared): readonly Event[] {
  if (views.all === undefined) {
    const all: Event[] = [];
    for (let i = 0; i < frame.events.count; i++) all.push(new Event(frame, frame.eventAt(frame.events, i)));
    views.all = Object.freeze(all);
  }
  return views.all;
}

/** Something the customer did. */
export class Event {
  readonly #frame: InputFrame;
  readonly #at: number;
  #kind: string | undefined;
  #time: number | undefined;

  constructor(frame: InputFrame, at: number) {
    this.#frame = frame;
    this.#at = at;
  }

  /** Its kind, e.g. "purchase". */
  get kind(): string {
    return (this.#kind ??= this.#frame.eventKind(this.#at));
  }

  /** Whether it is of `kind`. */
  is(kind: string): boolean {
    return this.kind === kind;
  }

  /** When (milliseconds since the epoch). */
  get at(): number {
    return (this.#time ??= this.#frame.eventTime(this.#at));
  }

  /** The channel it happened on. */
  get channel(): string | undefined {
    return this.#frame.eventAtom(this.#at, 4);
  }

  /** Money in minor units. */
  get amountMinor(): bigint | undefined {
    return this.#frame.eventAmount(this.#at);
  }

  /** The product. */
  get sku(): string | undefined {
    return this.#frame.eventAtom(this.#at, 8);
  }

  /** The product's category. */
  get category(): string | undefined {
    return this.#frame.eventAtom(this.#at, 12);
  }

  /** Every property, in key order. */
  props(): Generator<[string, Value]> {
    return attributes(this.#frame, this.#frame.eventProps(this.#at));
  }

  /** One property. */
  prop(key: string): Value | undefined {
    return find(this.#frame, this.#frame.eventProps(this.#at), key);
  }
}

/** A tag by name. */
export interface TagKey {
  readonly group: string;
  readonly name: string;
}

/**
 * The customer: identities, attributes, events and the previous decision.
 * The event lists are arrays made once per decision and shared by its
 * stages (frozen: copy one to change it).
 */
export class Profile {
  readonly #frame: InputFrame;
  readonly #views: Shared;

  constructor(frame: InputFrame) {
    this.#frame = frame;
    this.#views = sharedOf(frame);
  }

  /** The customer's id. */
  get customerId(): string {
    return this.#frame.text(this.#frame.customerId);
  }

  /** Every identity as `[kind, id]`, in kind order. */
  *identities(): Generator<[string, string]> {
    for (let i = 0; i < this.#frame.identities.count; i++) yield this.#frame.pair(this.#frame.identities, i);
  }

  /** The id of one kind, e.g. "wechat_openid". */
  identity(kind: string): string | undefined {
    for (const [k, id] of this.identities()) if (k === kind) return id;
    return undefined;
  }

  /** Every attribute, in key order. */
  attributes(): Generator<[string, Value]> {
    return attributes(this.#frame, this.#frame.attributes);
  }

  /** One attribute. */
  attr(key: string): Value | undefined {
    return find(this.#frame, this.#frame.attributes, key);
  }

  /** How many events happened up to now. */
  get eventCount(): number {
    return this.#views.past;
  }

  /** The event `i` of those up to now (oldest first). */
  event(i: number): Event | undefined {
    return i >= 0 && i < this.#views.past ? allOf(this.#frame, this.#views)[i] : undefined;
  }

  /** The events up to now, oldest first (later ones are the future). */
  events(): readonly Event[] {
    const views = this.#views;
    return (views.events ??= Object.freeze(allOf(this.#frame, views).slice(0, views.past)));
  }

  /** The events up to now, newest first. */
  eventsNewestFirst(): readonly Event[] {
    return (this.#views.newestFirst ??= Object.freeze(this.events().slice().reverse()));
  }

  /** Every event, after now too. */
  allEvents(): readonly Event[] {
    return allOf(this.#frame, this.#views);
  }

  /** The events of one kind up to now, oldest first. */
  eventsOf(kind: string): readonly Event[] {
    let found = this.#views.byKind.get(kind);
    if (found === undefined) {
      found = Object.freeze(this.events().filter((e) => e.kind === kind));
      this.#views.byKind.set(kind, found);
    }
    return found;
  }

  /** The tags of the previous decision. */
  *priorTags(): Generator<TagKey> {
    for (let i = 0; i < this.#frame.priorTags.count; i++) {
      const [group, name] = this.#frame.pair(this.#frame.priorTags, i);
      yield { group, name };
    }
  }

  /** The stage of the previous decision. */
  get priorStage(): Stage | undefined {
    return this.#frame.priorStage;
  }
}

/** The channel chosen for an offer and why. */
export interface ChannelChoice {
  readonly channel: string;
  readonly why: string;
}

/** An offer of the catalog. */
export class Offer {
  readonly #frame: InputFrame;
  readonly #at: number;

  constructor(frame: InputFrame, at: number) {
    this.#frame = frame;
    this.#at = at;
  }

  get #view(): DataView {
    return this.#frame.view;
  }

  /** Its id. */
  get id(): string {
    return this.#frame.text(this.#view.getUint32(this.#at, true));
  }

  /** Its kind, e.g. "win_back_coupon". */
  get kind(): string {
    return this.#frame.text(this.#view.getUint32(this.#at + 4, true));
  }

  /** The channels it may be sent on, in the catalog's order. */
  *channels(): Generator<string> {
    const start = this.#view.getUint32(this.#at + 8, true);
    const count = this.#view.getUint32(this.#at + 12, true);
    const span = this.#frame.span("an offer's channels", this.#frame.offerChannels, 4, start, count);
    for (let i = 0; i < span.count; i++) {
      yield this.#frame.text(this.#view.getUint32(span.offset + 4 * i, true));
    }
  }

  /** Whether it may be sent on `channel`. */
  hasChannel(channel: string): boolean {
    for (const c of this.channels()) if (c === channel) return true;
    return false;
  }

  /** Its value in minor units. */
  get valueMinor(): bigint {
    return this.#view.getBigInt64(this.#at + 24, true);
  }

  /** Its priority. */
  get priority(): number {
    return this.#view.getInt32(this.#at + 16, true);
  }

  /** From when it may be sent. */
  get startsAt(): number | undefined {
    const present = (this.#view.getUint32(this.#at + 20, true) & 1) !== 0;
    return present ? Number(this.#view.getBigInt64(this.#at + 32, true)) : undefined;
  }

  /** Until when it may be sent (exclusive). */
  get endsAt(): number | undefined {
    const present = (this.#view.getUint32(this.#at + 20, true) & 2) !== 0;
    return present ? Number(this.#view.getBigInt64(this.#at + 40, true)) : undefined;
  }

  /** Whether it may be sent at `at`. */
  isValidAt(at: number): boolean {
    const [starts, ends] = [this.startsAt, this.endsAt];
    return (starts === undefined || starts <= at) && (ends === undefined || at < ends);
  }

  /**
   * The channel to send it on: where the customer was last active, if the
   * offer allows it, else the offer's first channel.
   */
  channelFor(profile: Profile): ChannelChoice | undefined {
    let last: string | undefined;
    for (const e of profile.eventsNewestFirst()) {
      last = e.channel;
      if (last !== undefined) break;
    }
    if (last !== undefined && this.hasChannel(last)) return { channel: last, why: "last active there" };
    for (const channel of this.channels()) return { channel, why: "the offer's first channel" };
    return undefined;
  }
}

/** Orders offers by priority, then the lower id first: the best is last. */
export function byPriority(a: Offer, b: Offer): number {
  return a.priority - b.priority || compareText(b.id, a.id);
}

/** The catalog. */
export class Offers {
  readonly #frame: InputFrame;

  constructor(frame: InputFrame) {
    this.#frame = frame;
  }

  /** How many offers. */
  get length(): number {
    return this.#frame.offers.count;
  }

  /** Every offer, in the catalog's order. */
  *[Symbol.iterator](): Generator<Offer> {
    for (let i = 0; i < this.#frame.offers.count; i++) yield new Offer(this.#frame, this.#frame.offerAt(i));
  }

  /** The offer with `id`. */
  get(id: string): Offer | undefined {
    for (const o of this) if (o.id === id) return o;
    return undefined;
  }

  /** The valid offer of `kind` with the highest priority (ties: lowest id). */
  bestOfKind(kind: string, at: number): Offer | undefined {
    return maxBy([...this].filter((o) => o.kind === kind && o.isValidAt(at)), byPriority);
  }
}

/** The last of the greatest items by `order`, as Rust's `Iterator::max_by`. */
export function maxBy<T>(items: Iterable<T>, order: (a: T, b: T) => number): T | undefined {
  let best: T | undefined;
  let any = false;
  for (const item of items) {
    if (!any || order(item, best as T) >= 0) best = item;
    any = true;
  }
  return best;
}

/** What the pipeline has concluded before a `score` or `target` stage. */
export class Findings {
  readonly #frame: FindingsFrame;

  constructor(frame: FindingsFrame) {
    this.#frame = frame;
  }

  /** Every tag so far. */
  *tags(): Generator<TagKey> {
    for (const [group, name] of this.#frame.tags) yield { group, name };
  }

  /** Whether a tag is set. */
  hasTag(group: string, name: string): boolean {
    return this.#frame.tags.some(([g, n]) => g === group && n === name);
  }

  /** The names of the tags in `group`. */
  tagsIn(group: string): string[] {
    return this.#frame.tags.filter(([g]) => g === group).map(([, n]) => n);
  }

  /** Every score so far as `[name, value]`. */
  scores(): readonly (readonly [string, number])[] {
    return this.#frame.scores;
  }

  /** A score's latest value. */
  score(name: string): number | undefined {
    let value: number | undefined;
    for (const [n, v] of this.#frame.scores) if (n === name) value = v;
    return value;
  }

  /** The stage so far. */
  get stage(): Stage | undefined {
    return this.#frame.stage;
  }
}
