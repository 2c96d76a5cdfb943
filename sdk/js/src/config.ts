// Typed reads of the tenant's settings, with errors that name the key
// (`sdk/src/config.rs`): a missing key is `config_missing`, a value of the
// wrong shape `config_invalid`, each with a message naming the key and what
// was expected. Config is untrusted input: operators change it without a
// new plugin.

import { PluginError } from "./output.js";
import { debugString } from "./text.js";

/** How a setting's text becomes a value, and what it must look like. */
export interface ConfigValue<T> {
  readonly expected: string;
  parse(text: string): T | undefined;
}

const U32_MAX = 4_294_967_295n;

/** A whole number from 0 to 4294967295 (a JavaScript number). */
export const u32: ConfigValue<number> = {
  expected: "a whole number from 0 to 4294967295",
  parse: (text) => {
    if (!/^\+?\d+$/.test(text)) return undefined;
    const n = BigInt(text);
    return n <= U32_MAX ? Number(n) : undefined;
  },
};

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** A whole number in 64 bits (a bigint: money in minor units). */
export const i64: ConfigValue<bigint> = {
  expected: "a whole number",
  parse: (text) => {
    if (!/^[+-]?\d+$/.test(text)) return undefined;
    const n = BigInt(text);
    return n >= I64_MIN && n <= I64_MAX ? n : undefined;
  },
};

/** A finite number, written as Rust's `f64` reads one. */
export const f64: ConfigValue<number> = {
  expected: "a finite number",
  parse: (text) => {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
    const n = Number(text);
    return Number.isFinite(n) ? n : undefined;
  },
};

/** `true` or `false`. */
export const bool: ConfigValue<boolean> = {
  expected: "true or false",
  parse: (text) => (text === "true" ? true : text === "false" ? false : undefined),
};

/** Any text. */
export const text: ConfigValue<string> = {
  expected: "text",
  parse: (t) => t,
};

/** Where settings come from: the host inside the sandbox, a map in tests. */
export type ConfigSource = (key: string) => string | undefined;

/** The tenant's settings. */
export class Config {
  readonly #source: ConfigSource;

  constructor(source: ConfigSource) {
    this.#source = source;
  }

  /** The raw text of a setting. */
  get(key: string): string | undefined {
    return this.#source(key);
  }

  /** A setting that must be set. */
  required<T>(key: string, kind: ConfigValue<T>): T {
    const value = this.optional(key, kind);
    if (value === undefined) throw missing(key);
    return value;
  }

  /** A setting that may be absent (but must have the right shape if set). */
  optional<T>(key: string, kind: ConfigValue<T>): T | undefined {
    const raw = this.get(key);
    if (raw === undefined) return undefined;
    const value = kind.parse(raw.trim());
    if (value === undefined) throw invalid(key, raw, kind.expected);
    return value;
  }

  /** A setting with a default for when it is absent. */
  or<T>(key: string, kind: ConfigValue<T>, fallback: T): T {
    return this.optional(key, kind) ?? fallback;
  }

  /** A comma-separated list that must be set. */
  list<T>(key: string, kind: ConfigValue<T>): T[] {
    const raw = this.get(key);
    if (raw === undefined) throw missing(key);
    return raw.split(",").map((item) => {
      const value = kind.parse(item.trim());
      if (value === undefined) throw invalid(key, raw, `comma-separated items, each ${kind.expected}`);
      return value;
    });
  }
}

/** The error for a setting that is not set. */
export function missing(key: string): PluginError {
  return new PluginError("config_missing", `config key \`${key}\` is not set`);
}

/** The error for a setting of the wrong shape. */
export function invalid(key: string, raw: string, expected: string): PluginError {
  return new PluginError("config_invalid", `config key \`${key}\` is ${debugString(raw)}, expected ${expected}`);
}
