// @NAME@: a brand's rules as a rulehost plugin. Two rules to start from;
// see README.md for how to build, test and upload it.

import { Proposal, Tag, counted, daysSince, definePlugin, kinds, u32 } from "@rulehost/sdk";

export default definePlugin(() => ({
  /** `behaviour/regular`: enough purchases in the recent window. */
  tag(ctx, profile) {
    const window = ctx.config.or("@MODULE@.window_days", u32, 30);
    const min = ctx.config.or("@MODULE@.regular_min_purchases", u32, 3);
    let purchases = 0;
    for (const e of profile.eventsOf(kinds.PURCHASE)) {
      if (daysSince(ctx.now, e.at) < window) purchases++;
    }
    if (purchases < min) return [];
    return [
      new Tag("behaviour", "regular")
        .rule("@NAME@.tag.regular")
        .reason(`${counted(purchases, "purchase", "purchases")} in the last ${window} days (regular from ${min})`),
    ];
  },

  /** A win-back coupon for a customer whose last purchase is long ago. */
  target(ctx, profile, _findings, offers) {
    const after = ctx.config.or("@MODULE@.win_back_after_days", u32, 30);
    const last = profile.eventsOf(kinds.PURCHASE).at(-1);
    if (last === undefined) return [];
    const days = daysSince(ctx.now, last.at);
    if (days < after) return [];
    const offer = offers.bestOfKind("win_back_coupon", ctx.now);
    const choice = offer?.channelFor(profile);
    if (offer === undefined || choice === undefined) return [];
    return [
      new Proposal(offer.id, choice.channel)
        .score(offer.priority)
        .rule("@NAME@.offer.win-back")
        .reason(
          `last purchase ${counted(days, "day", "days")} ago (win-back after ${after}); on ${choice.channel} (${choice.why})`,
        ),
    ];
  },
}));
