"""@NAME@: a brand's rules as a rulehost plugin.

Two rules to start from; see README.md for how to build, test and upload it.
"""

from __future__ import annotations

from rulehost_sdk import Ctx, Findings, Offers, Profile, Proposal, Rules, Tag, counted, days_since, kinds, u32


class @TYPE@(Rules):
    def tag(self, ctx: Ctx, profile: Profile) -> list[Tag]:
        """``behaviour/regular``: enough purchases in the recent window."""
        window = ctx.config.or_default("@MODULE@.window_days", u32, 30)
        least = ctx.config.or_default("@MODULE@.regular_min_purchases", u32, 3)
        purchases = sum(1 for e in profile.events_of(kinds.PURCHASE) if days_since(ctx.now, e.at) < window)
        if purchases < least:
            return []
        return [
            Tag("behaviour", "regular")
            .rule("@NAME@.tag.regular")
            .reason(f"{counted(purchases, 'purchase', 'purchases')} in the last {window} days (regular from {least})")
        ]

    def target(self, ctx: Ctx, profile: Profile, findings: Findings, offers: Offers) -> list[Proposal]:
        """A win-back coupon for a customer whose last purchase is long ago."""
        after = ctx.config.or_default("@MODULE@.win_back_after_days", u32, 30)
        last = None
        for e in profile.events_of(kinds.PURCHASE):
            last = e
        if last is None:
            return []
        days = days_since(ctx.now, last.at)
        if days < after:
            return []
        offer = offers.best_of_kind("win_back_coupon", ctx.now)
        choice = offer.channel_for(profile) if offer is not None else None
        if offer is None or choice is None:
            return []
        return [
            Proposal(offer.id, choice.channel)
            .score(offer.priority)
            .rule("@NAME@.offer.win-back")
            .reason(
                f"last purchase {counted(days, 'day', 'days')} ago (win-back after {after}); "
                f"on {choice.channel} ({choice.why})"
            )
        ]
