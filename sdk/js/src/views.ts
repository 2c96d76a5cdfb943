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
    if (frame.attributeKey(section, i) === key) return frame.attribute(section, i)[1];
  }
  return undefined;
}

/**
 * What the views of one decision's frame share across its stages: how
 * many events are past, found without making any view; each event's view,
 * made the first time a list holds it; and the lists rules ask for, built
 * once and handed out again (frozen).
 */
interface Shared {
  readonly past: number;
  readonly views: (Event | undefined)[];
  /** The past events' indices by kind atom, in time order, and the atoms in the order first met. */
  kinds?: { readonly byAtom: number[][]; readonly atoms: number[] };
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
    let lo = 0;
    let hi = frame.events.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (frame.eventTime(frame.eventAt(frame.events, mid)) <= frame.now) lo = mid + 1;
      else hi = mid;
    }
    views = { past: lo, views: new Array<Event | undefined>(frame.events.count), byKind: new Map() };
    shared.set(frame, views);
  }
  return views;
}

/** The indices of events `0..past` by their kind's atom. */
function kindsOf(frame: InputFrame, past: number): { byAtom: number[][]; atoms: number[] } {
  const u32 = frame.u32;
  const byAtom: number[][] = [];
  const atoms: number[] = [];
  let w = frame.events.offset >> 2;
  for (let i = 0; i < past; i++, w += STRIDE_WORDS) {
    const atom = u32[w]!;
    const bucket = byAtom[atom];
    if (bucket === undefined) {
      byAtom[atom] = [i];
      atoms.push(atom);
    } else bucket.push(i);
  }
  return { byAtom, atoms };
}

/** An event record's size in 32-bit words. */
const STRIDE_WORDS = 12;

/** The view of event `i` of the frame's events. */
function viewOf(frame: InputFrame, views: Shared, i: number): Event {
  return (views.views[i] ??= new Event(frame, frame.eventAt(frame.events, i)));
}

/** The views of events `0..end`. */
function viewsUpTo(frame: InputFrame, views: Shared, end: number): readonly Event[] {
  const list: Event[] = [];
  for (let i = 0; i < end; i++) list.push(viewOf(frame, views, i));
  return Object.freeze(list);
}

/** Something the customer did. */
export class Event {
  readonly #frame: InputFrame;
  readonly #at: number;
  /** When: read as the view is made (nearly every rule reads it, often more than once). */
  readonly #time: number;

  constructor(frame: InputFrame, at: number) {
    this.#frame = frame;
    this.#at = at;
    this.#time = frame.eventTime(at);
  }

  /** Its kind, e.g. "purchase". */
  get kind(): string {
    return this.#frame.eventKind(this.#at);
  }

  /** Whether it is of `kind`. */
  is(kind: string): boolean {
    return this.#frame.eventKind(this.#at) === kind;
  }

  /** When (milliseconds since the epoch). */
  get at(): number {
    return this.#time;
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
    return i >= 0 && i < this.#views.past ? viewOf(this.#frame, this.#views, i) : undefined;
  }

  /** The events up to now, oldest first (later ones are the future). */
  events(): readonly Event[] {
    const views = this.#views;
    return (views.events ??= viewsUpTo(this.#frame, views, views.past));
  }

  /** The events up to now, newest first. */
  eventsNewestFirst(): readonly Event[] {
    return (this.#views.newestFirst ??= Object.freeze(this.events().slice().reverse()));
  }

  /** Every event, after now too. */
  allEvents(): readonly Event[] {
    const views = this.#views;
    return (views.all ??= viewsUpTo(this.#frame, views, this.#frame.events.count));
  }

  /**
   * The events of one kind up to now, oldest first. The first call sorts
   * the past events by kind in one pass over their atoms (the host writes
   * a kind once per frame, so a kind is one atom and is decoded once); a
   * view is made only for an event of a kind asked for.
   */
  eventsOf(kind: string): readonly Event[] {
    const views = this.#views;
    let found = views.byKind.get(kind);
    if (found === undefined) {
      const frame = this.#frame;
      const kinds = (views.kinds ??= kindsOf(frame, views.past));
      let indices: number[] = [];
      let atoms = 0;
      for (const atom of kinds.atoms) {
        if (frame.text(atom) !== kind) continue;
        indices = atoms++ === 0 ? kinds.byAtom[atom]! : indices.concat(kinds.byAtom[atom]!);
      }
      // The same kind under two atoms (a writer that writes it twice): back in time order.
      if (atoms > 1) indices.sort((a, b) => a - b);
      const list: Event[] = [];
      for (const i of indices) list.push(viewOf(frame, views, i));
      found = Object.freeze(list);
      views.byKind.set(kind, found);
    }
    return found;
  }

  /** The channel of the latest event up to now that has one. */
  lastChannel(): string | undefined {
    const frame = this.#frame;
    for (let i = this.#views.past - 1; i >= 0; i--) {
      const channel = frame.eventAtom(frame.eventAt(frame.events, i), 4);
      if (channel !== undefined) return channel;
    }
    return undefined;
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
    return this.#frame.text(this.#frame.u32[this.#at >> 2]!);
  }

  /** Its kind, e.g. "win_back_coupon". */
  get kind(): string {
    return this.#frame.text(this.#frame.u32[(this.#at + 4) >> 2]!);
  }

  #channels: readonly string[] | undefined;

  #channelList(): readonly string[] {
    if (this.#channels === undefined) {
      const frame = this.#frame;
      const start = frame.u32[(this.#at + 8) >> 2]!;
      const span = frame.span("an offer's channels", frame.offerChannels, 4, start, frame.u32[(this.#at + 12) >> 2]!);
      const list: string[] = [];
      for (let i = 0; i < span.count; i++) list.push(frame.text(frame.u32[(span.offset >> 2) + i]!));
      this.#channels = Object.freeze(list);
    }
    return this.#channels;
  }

  /** The channels it may be sent on, in the catalog's order. */
  channels(): readonly string[] {
    return this.#channelList();
  }

  /** Whether it may be sent on `channel`. */
  hasChannel(channel: string): boolean {
    return this.#channelList().includes(channel);
  }

  /** Its value in minor units. */
  get valueMinor(): bigint {
    return this.#view.getBigInt64(this.#at + 24, true);
  }

  /** Its priority. */
  get priority(): number {
    return this.#frame.i32[(this.#at + 16) >> 2]!;
  }

  /** An instant of the record: its two 32-bit halves at `field`. */
  #time(field: number): number {
    const w = (this.#at + field) >> 2;
    return this.#frame.i32[w + 1]! * 4294967296 + this.#frame.u32[w]!;
  }

  /** From when it may be sent. */
  get startsAt(): number | undefined {
    return (this.#frame.u32[(this.#at + 20) >> 2]! & 1) !== 0 ? this.#time(32) : undefined;
  }

  /** Until when it may be sent (exclusive). */
  get endsAt(): number | undefined {
    return (this.#frame.u32[(this.#at + 20) >> 2]! & 2) !== 0 ? this.#time(40) : undefined;
  }

  /** Whether it may be sent at `at`. */
  isValidAt(at: number): boolean {
    const starts = this.startsAt;
    if (starts !== undefined && starts > at) return false;
    const ends = this.endsAt;
    return ends === undefined || at < ends;
  }

  /**
   * The channel to send it on: where the customer was last active, if the
   * offer allows it, else the offer's first channel.
   */
  channelFor(profile: Profile): ChannelChoice | undefined {
    const last = profile.lastChannel();
    if (last !== undefined && this.hasChannel(last)) return { channel: last, why: "last active there" };
    const first = this.#channelList()[0];
    return first === undefined ? undefined : { channel: first, why: "the offer's first channel" };
  }
}

/** Orders offers by priority, then the lower id first: the best is last. */
export function byPriority(a: Offer, b: Offer): number {
  return a.priority - b.priority || compareText(b.id, a.id);
}

/** The catalog. */
export class Offers {
  readonly #frame: InputFrame;
  #list: readonly Offer[] | undefined;

  constructor(frame: InputFrame) {
    this.#frame = frame;
  }

  /** Every offer's view, made the first time the catalog is read. */
  #offers(): readonly Offer[] {
    if (this.#list === undefined) {
      const list: Offer[] = [];
      for (let i = 0; i < this.#frame.offers.count; i++) list.push(new Offer(this.#frame, this.#frame.offerAt(i)));
      this.#list = Object.freeze(list);
    }
    return this.#list;
  }

  /** How many offers. */
  get length(): number {
    return this.#frame.offers.count;
  }

  /** Every offer, in the catalog's order. */
  [Symbol.iterator](): Iterator<Offer> {
    return this.#offers()[Symbol.iterator]();
  }

  /** The offer with `id`. */
  get(id: string): Offer | undefined {
    return this.#offers().find((o) => o.id === id);
  }

  /** The valid offer of `kind` with the highest priority (ties: lowest id). */
  bestOfKind(kind: string, at: number): Offer | undefined {
    let best: Offer | undefined;
    for (const o of this.#offers()) {
      if (o.kind === kind && o.isValidAt(at) && (best === undefined || byPriority(o, best) >= 0)) best = o;
    }
    return best;
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
    for (const tag of this.#frame.tags) yield { group: tag[0], name: tag[1] };
  }

  /** Whether a tag is set. */
  hasTag(group: string, name: string): boolean {
    return this.#frame.tags.some((tag) => tag[0] === group && tag[1] === name);
  }

  /** The names of the tags in `group`. */
  tagsIn(group: string): string[] {
    const names: string[] = [];
    for (const tag of this.#frame.tags) if (tag[0] === group) names.push(tag[1]);
    return names;
  }

  /** Every score so far as `[name, value]`. */
  scores(): readonly (readonly [string, number])[] {
    return this.#frame.scores;
  }

  /** A score's latest value. */
  score(name: string): number | undefined {
    let value: number | undefined;
    for (const score of this.#frame.scores) if (score[0] === name) value = score[1];
    return value;
  }

  /** The stage so far. */
  get stage(): Stage | undefined {
    return this.#frame.stage;
  }
}
