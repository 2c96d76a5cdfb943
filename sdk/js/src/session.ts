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

  /** @internal Writes the wake-ups asked for into a stage's answer (the session calls it). */
  writeWakes(out: AnswerWriter): void {
    for (const w of this.#wakes.splice(0)) out.wake(w.key, w.at, w.reason);
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
  begin?(seed: bigint): void;
}

/**
 * `Math.random` for one decision: xoshiro128** seeded from `seed` by
 * splitmix32, the same draws for the same seed on every engine. Not for
 * secrets.
 */
export function seededRandom(seed: bigint): () => number {
  let x = Number(seed & 0xffffffffn) ^ Number((seed >> 32n) & 0xffffffffn);
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

/** One decision of one plugin. */
export class Session {
  readonly #rules: Rules;
  readonly #host: Host;
  readonly #input: InputFrame | PluginError;

  constructor(plugin: Plugin, host: Host, input: Uint8Array) {
    this.#host = host;
    this.#rules = plugin();
    let frame: InputFrame | PluginError;
    try {
      frame = new InputFrame(input);
    } catch (e) {
      frame = new PluginError("invalid_input", `the host sent an input that does not read: ${(e as Error).message}`);
    }
    this.#input = frame;
  }

  /** The decision's seed (0 when the input did not read). */
  get seed(): bigint {
    return this.#input instanceof PluginError ? 0n : this.#input.seed;
  }

  #run(stage: (ctx: Ctx, frame: InputFrame, out: AnswerWriter) => void): Uint8Array {
    if (this.#input instanceof PluginError) throw this.#input;
    const out = new AnswerWriter();
    const ctx = new Ctx(this.#input, this.#host);
    try {
      stage(ctx, this.#input, out);
    } catch (e) {
      // A field of the frame is checked where it is read (see layout.ts).
      if (e instanceof LayoutError) {
        throw new PluginError("invalid_input", `the host sent an input that does not read: ${e.message}`);
      }
      throw e;
    }
    ctx.writeWakes(out);
    return out.finish();
  }

  /** The tag stage's answer frame. */
  tag(): Uint8Array {
    return this.#run((ctx, frame, out) => {
      for (const t of this.#rules.tag?.(ctx, new Profile(frame)) ?? []) {
        out.tag(t.group, t.name, t.reasonText, t.ruleId, t.expiresAt);
      }
    });
  }

  /** The score stage's answer frame. */
  score(findings: Uint8Array): Uint8Array {
    return this.#run((ctx, frame, out) => {
      const scoring = this.#rules.score?.(ctx, new Profile(frame), readFindings(findings));
      for (const s of scoring?.scores ?? []) out.score(s.name, s.value, s.reasonText, s.ruleId);
      const stage = scoring?.stage;
      if (stage !== undefined) out.stage(stage.stage, stage.reasonText, stage.ruleId);
    });
  }

  /** The target stage's answer frame. */
  target(findings: Uint8Array): Uint8Array {
    return this.#run((ctx, frame, out) => {
      const proposals = this.#rules.target?.(ctx, new Profile(frame), readFindings(findings), new Offers(frame));
      for (const p of proposals ?? []) out.proposal(p.offerId, p.channel, p.reasonText, p.ruleId, p.scoreValue);
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
      hooks.begin?.(this.#session.seed);
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
