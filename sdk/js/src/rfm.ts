// Recency, frequency and monetary value, scored 1–5 and named as the ten
// standard segments (`sdk/src/rfm.rs`).

import { Config, i64, invalid } from "./config.js";
import { PURCHASE, REFUND } from "./kinds.js";
import { daysSince, plusDays } from "./time.js";
import type { Profile } from "./views.js";

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);
const U32_MAX = 4_294_967_295;

/** `a + b` held within 64 bits, as Rust's `saturating_add`. */
export function saturatingAdd(a: bigint, b: bigint): bigint {
  const sum = a + b;
  return sum > I64_MAX ? I64_MAX : sum < I64_MIN ? I64_MIN : sum;
}

/** A customer's recency, frequency and monetary value over a window. */
export interface Rfm {
  /** Whole days since the last purchase (ever, not only in the window). */
  readonly recencyDays: number | undefined;
  /** Purchases in the window. */
  readonly frequency: number;
  /** Spent in the window net of refunds, never below zero (minor units). */
  readonly monetaryMinor: bigint;
}

/**
 * Computes RFM at `now` over the last `windowDays` days (all time when
 * undefined). Negative amounts count as zero; sums saturate. Computed once
 * per decision for the same arguments (the stages share the result).
 */
export function computeRfm(profile: Profile, now: number, windowDays: number | undefined): Rfm {
  // The stages of a decision share one profile: each asks once.
  let known = computed.get(profile);
  if (known === undefined) computed.set(profile, (known = new Map<string, Rfm>()));
  const key = `${now}/${windowDays}`;
  let rfm = known.get(key);
  if (rfm === undefined) known.set(key, (rfm = rfmOf(profile, now, windowDays)));
  return rfm;
}

const computed = new WeakMap<Profile, Map<string, Rfm>>();

function rfmOf(profile: Profile, now: number, windowDays: number | undefined): Rfm {
  const since = windowDays === undefined ? undefined : plusDays(now, -windowDays);
  const inWindow = (at: number) => since === undefined || at > since;
  // The two kinds it counts, each a list the decision keeps: no view of
  // any other event is made.
  const purchases = profile.eventsOf(PURCHASE);
  const last = purchases[purchases.length - 1];
  let frequency = 0;
  let spent = 0n;
  for (const event of purchases) {
    if (!inWindow(event.at)) continue;
    frequency = Math.min(frequency + 1, U32_MAX);
    const amount = event.amountMinor;
    if (amount !== undefined && amount > 0n) spent = saturatingAdd(spent, amount);
  }
  let refunded = 0n;
  for (const event of profile.eventsOf(REFUND)) {
    const amount = event.amountMinor;
    if (amount !== undefined && amount > 0n && inWindow(event.at)) refunded = saturatingAdd(refunded, amount);
  }
  const lastPurchase = last?.at;
  const net = saturatingAdd(spent, -refunded);
  return {
    recencyDays: lastPurchase === undefined ? undefined : daysSince(now, lastPurchase),
    frequency,
    monetaryMinor: net > 0n ? net : 0n,
  };
}

/** Four strictly ascending thresholds that cut values into scores 1–5. */
export class Breakpoints {
  readonly values: readonly [bigint, bigint, bigint, bigint];

  private constructor(values: readonly [bigint, bigint, bigint, bigint]) {
    this.values = values;
  }

  /** Breakpoints from four strictly ascending values; throws otherwise. */
  static of(values: readonly (bigint | number)[]): Breakpoints {
    const four = values.map(BigInt);
    if (four.length !== 4 || !four.every((v, i) => i === 0 || four[i - 1]! < v)) {
      throw new RangeError(`breakpoints must be 4 strictly ascending values, got [${four.join(", ")}]`);
    }
    return new Breakpoints(four as [bigint, bigint, bigint, bigint]);
  }

  /** Breakpoints from a config key holding four comma-separated numbers. */
  static fromConfig(config: Config, key: string): Breakpoints {
    const values = config.list(key, i64);
    try {
      return Breakpoints.of(values);
    } catch {
      throw invalid(key, config.get(key) ?? "", "4 comma-separated ascending numbers");
    }
  }

  /** 1 + how many breakpoints are at or below `value` (higher is better). */
  score(value: bigint | number): number {
    const v = BigInt(value);
    return 1 + this.values.filter((b) => b <= v).length;
  }

  /** For recency, lower is better: 5 − how many breakpoints are below; 1 for none. */
  scoreLowerIsBetter(value: bigint | number | undefined): number {
    if (value === undefined) return 1;
    const v = BigInt(value);
    return 5 - this.values.filter((b) => b < v).length;
  }
}

/** The ten standard RFM segments. */
export const SEGMENTS = [
  "champions",
  "loyal",
  "potential-loyalists",
  "new",
  "promising",
  "need-attention",
  "about-to-sleep",
  "at-risk",
  "cant-lose-them",
  "hibernating",
] as const;
/** An RFM segment. */
export type Segment = (typeof SEGMENTS)[number];

/** The segment of recency and frequency scores (each clamped to 1–5). */
export function segmentOf(r: number, f: number): Segment {
  const [rr, ff] = [Math.min(Math.max(r, 1), 5), Math.min(Math.max(f, 1), 5)];
  if (rr === 5 && ff >= 4) return "champions";
  if (rr >= 3 && rr <= 4 && ff >= 4) return "loyal";
  if (rr >= 4 && ff >= 2 && ff <= 3) return "potential-loyalists";
  if (rr === 5) return "new";
  if (rr === 4) return "promising";
  if (rr === 3 && ff === 3) return "need-attention";
  if (rr === 3) return "about-to-sleep";
  if (ff >= 3 && ff <= 4) return "at-risk";
  if (ff === 5) return "cant-lose-them";
  return "hibernating";
}
