// One decision inside a plugin: the bridge between the contract's frames and
// a plugin's rules (`sdk/src/session.rs`). The host creates a session per
// plugin per decision, so the input crosses into the guest once; each stage
// reads it in place and writes its answer frame. The same `Session` runs in
// Node for unit tests, so tests run exactly the code the guest runs.

import { Config } from "./config.js";
import { AnswerWriter, FindingsFrame, InputFrame, LayoutError, type Mode } from "./layout.js";
import { PluginError, type Proposal, type Scoring, type Tag } from "./output.js";
import { LocalDate, localDate } from "./time.js";
import { Event, Findings, Offers, Profile } from "./views.js";

/** Severity of a log line (the contract's `level`). */
export type Level = "trace" | "debug" | "info" | "warn" | "error";

/** What the host offers a plugin: the contract's `host` interface. */
export interface Host {
  log(level: Level, message: string): void;
  config(key: string): string | undefined;
}

/** The kind of the trigger of a decision a wake-up starts. */
export const TIMER = "timer";

/** The wake-up that started a decision (see `Ctx.woken`). */
export interface Woken {
  readonly key: string;
  readonly reason: string;
  /** When it was due (ms since the epoch). */
  readonly dueAt: number;
}

/** A wake-up asked for in a stage: `at` undefined clears the key's. */
interface WakeRequest {
  readonly key: string;
  readonly at: number | undefined;
  readonly reason: string | undefined;
}

/** The decision's context: when, where, why, and the host's services. */
export class Ctx {
  readonly #frame: InputFrame;
  readonly #host: Host;
  readonly config: Config;
  readonly #wakes: WakeRequest[] = [];

  constructor(frame: InputFrame, host: Host) {
    this.#frame = frame;
    this.#host = host;
    this.config = new Config((key) => host.config(key));
  }

  /** The decision's time (milliseconds since the epoch). */
  get now(): number {
    return this.#frame.now;
  }

  /** The tenant's offset from UTC in minutes. */
  get tzOffsetMinutes(): number {
    return this.#frame.tzOffsetMinutes;
  }

  /** The tenant's local date at `now`. */
  get today(): LocalDate {
    return localDate(this.now, this.tzOffsetMinutes);
  }

  /** A seed fixed per decision, for any pseudo-randomness. */
  get seed(): bigint {
    return this.#frame.seed;
  }

  /** Why the decision is made. */
  get mode(): Mode {
    return this.#frame.mode;
  }

  /** The event that triggered the decision, if any. */
  get trigger(): Event | undefined {
    const t = this.#frame.trigger;
    return t.count === 0 ? undefined : new Event(this.#frame, this.#frame.eventAt(t, 0));
  }

  /** Appends a line to this decision's log. */
  log(level: Level, message: string): void {
    this.#host.log(level, message);
  }

  /**
   * Asks the host to run a decision for this customer again at `at` (ms since
   * the epoch), under `key` (a later wake-up of the key replaces it), with
   * `reason` in the explanation (`Ctx.wakeAt` of the Rust SDK: at least a
   * minute and at most 400 days after `now`, at most 8 per stage; only a
   * committed decision sets it).
   */
  wakeAt(key: string, at: number, reason: string): void {
    this.#wakes.push({ key, at, reason });
  }

  /** Clears this customer's wake-up of `key`, if one is set. */
  clearWake(key: string): void {
    this.#wakes.push({ key, at: undefined, reason: undefined });
  }

  /** The wake-up that started this decision, if one did. */
  get woken(): Woken | undefined {
    const t = this.trigger;
    if (t === undefined || !t.is(TIMER)) return undefined;
    const text = (key: string): string => {
      const v = t.prop(key);
      return v?.kind === "text" ? v.value : "";
    };
    return { key: text("key"), reason: text("reason"), dueAt: t.at };
  }

  /** @internal Writes the wake-ups asked for in a stage into its answer (the session calls it). */
  writeWakes(out: AnswerWriter): void {
    for (const w of this.#wakes) out.wake(w.key, w.at, w.reason);
    this.#wakes.length = 0;
  }

  /** @internal Forgets the wake-ups of a stage that failed. */
  dropWakes(): void {
    this.#wakes.length = 0;
  }
}

/** A brand's rules: any of the three stages (a missing one answers nothing). */
export interface Rules {
  tag?(ctx: Ctx, profile: Profile): Tag[];
  score?(ctx: Ctx, profile: Profile, findings: Findings): Scoring;
  target?(ctx: Ctx, profile: Profile, findings: Findings, offers: Offers): Proposal[];
}

/** Makes a plugin's rules for one decision (state lives as long as it). */
export type Plugin = () => Rules;

/** Declares a plugin: the module's default export. */
export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}

/** What a stage returns across the contract: its frame, or the error. */
export type WireError = { code: string; message: string };

/**
 * What an engine's glue may need at the start of each decision: QuickJS
 * snapshots its generator's state with the rest of the heap at build time,
 * so its entry replaces `Math.random` with [`seededRandom`] of each
 * decision's seed (SpiderMonkey draws from WASI, which the host seeds).
 */
export interface EngineHooks {
  /** The decision's seed as its low and high 32 bits. */
  begin?(seed: readonly [number, number]): void;
}

/**
 * `Math.random` for one decision: xoshiro128** seeded from `seed` (a bigint,
 * or its low and high 32 bits) by splitmix32, the same draws for the same
 * seed on every engine. Not for secrets. Seeded at the first draw: a
 * decision that draws nothing pays nothing.
 */
export function seededRandom(seed: bigint | readonly [number, number]): () => number {
  const [lo, hi] =
    typeof seed === "bigint" ? [Number(seed & 0xffffffffn), Number((seed >> 32n) & 0xffffffffn)] : seed;
  let next: (() => number) | undefined;
  return () => (next ??= xoshiro128(lo ^ hi))();
}

function xoshiro128(seed: number): () => number {
  let x = seed;
  const next32 = (): number => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let [a, b, c, d] = [next32(), next32(), next32(), next32()];
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** What a session reads through: made once, shared by its three stages. */
interface Opened {
  readonly frame: InputFrame;
  readonly ctx: Ctx;
  readonly profile: Profile;
  readonly offers: Offers;
}

/**
 * The answer writer the sessions share: a stage runs to its end before
 * another starts, and `finish` copies the answer out, so its buffers are
 * made once (in a pre-initialised engine, before the first decision).
 */
const ANSWER = new AnswerWriter();

/** One decision of one plugin. */
export class Session {
  readonly #rules: Rules;
  readonly #input: Opened | PluginError;

  constructor(plugin: Plugin, host: Host, input: Uint8Array) {
    this.#rules = plugin();
    let opened: Opened | PluginError;
    try {
      const frame = new InputFrame(input);
      opened = { frame, ctx: new Ctx(frame, host), profile: new Profile(frame), offers: new Offers(frame) };
    } catch (e) {
      opened = new PluginError("invalid_input", `the host sent an input that does not read: ${(e as Error).message}`);
    }
    this.#input = opened;
  }

  /** The decision's seed as its low and high 32 bits (0 when the input did not read). */
  get seedWords(): readonly [number, number] {
    return this.#input instanceof PluginError ? [0, 0] : this.#input.frame.seedWords;
  }

  #run(stage: (opened: Opened, out: AnswerWriter) => void): Uint8Array {
    const opened = this.#input;
    if (opened instanceof PluginError) throw opened;
    const out = ANSWER;
    out.reset();
    try {
      stage(opened, out);
    } catch (e) {
      opened.ctx.dropWakes();
      // A field of the frame is checked where it is read (see layout.ts).
      if (e instanceof LayoutError) {
        throw new PluginError("invalid_input", `the host sent an input that does not read: ${e.message}`);
      }
      throw e;
    }
    opened.ctx.writeWakes(out);
    return out.finish();
  }

  /** The tag stage's answer frame. */
  tag(): Uint8Array {
    return this.#run(({ ctx, profile }, out) => {
      const tags = this.#rules.tag?.(ctx, profile);
      if (tags === undefined) return;
      for (const t of tags) out.tag(t.group, t.name, t.reasonText, t.ruleId, t.expiresAt);
    });
  }

  /** The score stage's answer frame. */
  score(findings: Uint8Array): Uint8Array {
    return this.#run(({ ctx, profile }, out) => {
      const scoring = this.#rules.score?.(ctx, profile, readFindings(findings));
      if (scoring === undefined) return;
      for (const s of scoring.scores) out.score(s.name, s.value, s.reasonText, s.ruleId);
      const stage = scoring.stage;
      if (stage !== undefined) out.stage(stage.stage, stage.reasonText, stage.ruleId);
    });
  }

  /** The target stage's answer frame. */
  target(findings: Uint8Array): Uint8Array {
    return this.#run(({ ctx, profile, offers }, out) => {
      const proposals = this.#rules.target?.(ctx, profile, readFindings(findings), offers);
      if (proposals === undefined) return;
      for (const p of proposals) out.proposal(p.offerId, p.channel, p.reasonText, p.ruleId, p.scoreValue);
    });
  }
}

function readFindings(bytes: Uint8Array): Findings {
  try {
    return new Findings(new FindingsFrame(bytes));
  } catch (e) {
    throw new PluginError("invalid_input", `the host sent findings that do not read: ${(e as Error).message}`);
  }
}

/**
 * The contract's `rules` export for `plugin`: what the entry module that
 * `rulehost build` writes exports. A `PluginError` becomes the stage's
 * error; anything else thrown is a bug, logged at error level and left to
 * fail the call, as a panic does in a Rust plugin.
 */
export function exportRules(
  plugin: Plugin,
  host: Host,
  hooks: EngineHooks = {},
): { Session: new (input: Uint8Array) => unknown } {
  const wire = <T>(stage: () => T): T => {
    try {
      return stage();
    } catch (e) {
      // The contract's error crosses as the thrown value itself: a record.
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      if (e instanceof PluginError) throw { code: e.code, message: e.message } satisfies WireError;
      host.log("error", e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e));
      throw e;
    }
  };
  class GuestSession {
    readonly #session: Session;

    constructor(input: Uint8Array) {
      this.#session = wire(() => new Session(plugin, host, input));
      hooks.begin?.(this.#session.seedWords);
    }

    tag(): Uint8Array {
      return wire(() => this.#session.tag());
    }

    score(findings: Uint8Array): Uint8Array {
      return wire(() => this.#session.score(findings));
    }

    target(findings: Uint8Array): Uint8Array {
      return wire(() => this.#session.target(findings));
    }
  }
  return { Session: GuestSession };
}
