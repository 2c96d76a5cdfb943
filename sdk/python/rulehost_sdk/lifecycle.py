"""Placing a customer in a lifecycle stage from purchase history (``sdk/src/lifecycle.rs``).

The rules, in order (the first that holds wins): no purchase yet →
introduction; the last purchase more than ``churned_after_days`` ago →
churned; more than ``dormant_after_days`` → dormancy; bought again after a
gap of more than ``dormant_after_days``, or the previous decision had them
dormant or churned → reactivated; at least ``maturity_min_purchases`` in
the window → maturity; at least ``growth_min_purchases`` → growth;
otherwise introduction.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config, invalid, u32
from .kinds import PURCHASE
from .layout import Stage
from .output import StageVerdict
from .text import counted
from .time import days_since, plus_days
from .views import Profile


@dataclass(frozen=True)
class Lifecycle:
    """A brand's lifecycle thresholds."""

    dormant_after_days: int
    churned_after_days: int
    growth_min_purchases: int
    maturity_min_purchases: int
    window_days: int | None
    """The purchase-count window in days; None counts all time."""
    rule_prefix: str
    """Rule ids are ``{rule_prefix}.{stage}``."""

    @staticmethod
    def from_config(config: Config, prefix: str, rule_prefix: str) -> Lifecycle:
        """Reads ``{prefix}.dormant_after_days`` and the rest, checking them against each other."""

        def key(name: str) -> str:
            return f"{prefix}.{name}"

        rules = Lifecycle(
            dormant_after_days=config.required(key("dormant_after_days"), u32),
            churned_after_days=config.required(key("churned_after_days"), u32),
            growth_min_purchases=config.required(key("growth_min_purchases"), u32),
            maturity_min_purchases=config.required(key("maturity_min_purchases"), u32),
            window_days=config.optional(key("window_days"), u32) or None,
            rule_prefix=rule_prefix,
        )
        if rules.churned_after_days <= rules.dormant_after_days:
            name = key("churned_after_days")
            expected = f"more than {rules.dormant_after_days} (`{key('dormant_after_days')}`)"
            raise invalid(name, config.get(name) or "", expected)
        if rules.maturity_min_purchases < rules.growth_min_purchases:
            name = key("maturity_min_purchases")
            expected = f"at least {rules.growth_min_purchases} (`{key('growth_min_purchases')}`)"
            raise invalid(name, config.get(name) or "", expected)
        return rules

    def classify(self, profile: Profile, now: int) -> StageVerdict:
        """The customer's stage at ``now``, with the rule and the reason."""

        def verdict(stage: Stage, reason: str) -> StageVerdict:
            return StageVerdict(stage).rule(f"{self.rule_prefix}.{stage}").reason(reason)

        purchases = list(profile.events_of(PURCHASE))
        if not purchases:
            return verdict("introduction", "no purchase yet")
        last = purchases[-1]
        days = days_since(now, last.at)
        if days > self.churned_after_days:
            return verdict("churned", f"last purchase {days} days ago (churned after {self.churned_after_days})")
        if days > self.dormant_after_days:
            return verdict("dormancy", f"last purchase {days} days ago (dormant after {self.dormant_after_days})")
        if len(purchases) > 1:
            gap = days_since(last.at, purchases[-2].at)
            if gap > self.dormant_after_days:
                reason = f"bought {days} days ago after a {gap}-day gap (dormant after {self.dormant_after_days})"
                return verdict("reactivated", reason)
        prior = profile.prior_stage
        if prior in ("dormancy", "churned"):
            return verdict("reactivated", f"was {prior} at the last decision and bought {days} days ago")
        since = None if self.window_days is None else plus_days(now, -self.window_days)
        count = sum(1 for e in purchases if since is None or e.at > since)
        window = "in total" if self.window_days is None else f"in the last {self.window_days} days"
        thresholds = f"(growth from {self.growth_min_purchases}, maturity from {self.maturity_min_purchases})"
        stage: Stage = (
            "maturity"
            if count >= self.maturity_min_purchases
            else "growth"
            if count >= self.growth_min_purchases
            else "introduction"
        )
        return verdict(stage, f"{counted(count, 'purchase', 'purchases')} {window} {thresholds}")
