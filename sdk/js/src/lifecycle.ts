// Placing a customer in a lifecycle stage from purchase history, with
// thresholds each brand sets in config (`sdk/src/lifecycle.rs`). The rules,
// in order (the first that holds wins):
// 1. no purchase yet → introduction;
// 2. the last purchase is more than `churnedAfterDays` ago → churned;
// 3. … more than `dormantAfterDays` ago → dormancy;
// 4. the customer bought again after a gap of more than `dormantAfterDays`,
//    or the previous decision had them dormant or churned → reactivated;
// 5. at least `maturityMinPurchases` purchases in the window → maturity;
// 6. at least `growthMinPurchases` → growth;
// 7. otherwise → introduction.

import { Config, invalid, u32 } from "./config.js";
import { PURCHASE } from "./kinds.js";
import type { Stage } from "./layout.js";
import { StageVerdict } from "./output.js";
import { counted } from "./text.js";
import { daysSince, plusDays } from "./time.js";
import type { Profile } from "./views.js";

/** A brand's lifecycle thresholds. */
export class Lifecycle {
  constructor(
    readonly dormantAfterDays: number,
    readonly churnedAfterDays: number,
    readonly growthMinPurchases: number,
    readonly maturityMinPurchases: number,
    /** The purchase-count window in days; undefined counts all time. */
    readonly windowDays: number | undefined,
    /** Rule ids are `${rulePrefix}.${stage}`. */
    readonly rulePrefix: string,
  ) {}

  /**
   * Reads `${prefix}.dormant_after_days`, `.churned_after_days`,
   * `.growth_min_purchases`, `.maturity_min_purchases` and the optional
   * `.window_days` (0 or absent: all time), checking that churned comes
   * after dormant and maturity needs at least growth's purchases.
   */
  static fromConfig(config: Config, prefix: string, rulePrefix: string): Lifecycle {
    const key = (name: string) => `${prefix}.${name}`;
    // Read in the Rust SDK's order, so the first error is the same one.
    const dormant = config.required(key("dormant_after_days"), u32);
    const churned = config.required(key("churned_after_days"), u32);
    const growth = config.required(key("growth_min_purchases"), u32);
    const maturity = config.required(key("maturity_min_purchases"), u32);
    const window = config.optional(key("window_days"), u32);
    const rules = new Lifecycle(dormant, churned, growth, maturity, window || undefined, rulePrefix);
    if (rules.churnedAfterDays <= rules.dormantAfterDays) {
      const name = key("churned_after_days");
      throw invalid(name, config.get(name) ?? "", `more than ${rules.dormantAfterDays} (\`${key("dormant_after_days")}\`)`);
    }
    if (rules.maturityMinPurchases < rules.growthMinPurchases) {
      const name = key("maturity_min_purchases");
      throw invalid(name, config.get(name) ?? "", `at least ${rules.growthMinPurchases} (\`${key("growth_min_purchases")}\`)`);
    }
    return rules;
  }

  /** The customer's stage at `now`, with the rule and the reason. */
  classify(profile: Profile, now: number): StageVerdict {
    const verdict = (stage: Stage, reason: string) =>
      new StageVerdict(stage).rule(`${this.rulePrefix}.${stage}`).reason(reason);
    const purchases = profile.eventsOf(PURCHASE);
    const last = purchases.at(-1);
    if (last === undefined) return verdict("introduction", "no purchase yet");
    const days = daysSince(now, last.at);
    if (days > this.churnedAfterDays) {
      return verdict("churned", `last purchase ${days} days ago (churned after ${this.churnedAfterDays})`);
    }
    if (days > this.dormantAfterDays) {
      return verdict("dormancy", `last purchase ${days} days ago (dormant after ${this.dormantAfterDays})`);
    }
    const previous = purchases.at(-2);
    if (previous !== undefined) {
      const gap = daysSince(last.at, previous.at);
      if (gap > this.dormantAfterDays) {
        return verdict(
          "reactivated",
          `bought ${days} days ago after a ${gap}-day gap (dormant after ${this.dormantAfterDays})`,
        );
      }
    }
    const prior = profile.priorStage;
    if (prior === "dormancy" || prior === "churned") {
      return verdict("reactivated", `was ${prior} at the last decision and bought ${days} days ago`);
    }
    const since = this.windowDays === undefined ? undefined : plusDays(now, -this.windowDays);
    const count = purchases.filter((e) => since === undefined || e.at > since).length;
    const window = this.windowDays === undefined ? "in total" : `in the last ${this.windowDays} days`;
    const thresholds = `(growth from ${this.growthMinPurchases}, maturity from ${this.maturityMinPurchases})`;
    const stage: Stage =
      count >= this.maturityMinPurchases ? "maturity" : count >= this.growthMinPurchases ? "growth" : "introduction";
    return verdict(stage, `${counted(count, "purchase", "purchases")} ${window} ${thresholds}`);
  }
}
