"""coffee-chain in Python: the rules of a high-frequency coffee brand.

The same as ``plugins/coffee-chain/src/lib.rs`` rule for rule, reason for
reason, so the Rust plugin's fixtures hold for both. See
``plugins/coffee-chain/README.md`` for every rule and config key.
"""

from __future__ import annotations

from dataclasses import dataclass

from rulehost_sdk import (
    NAME_BYTES,
    Ctx,
    Event,
    Findings,
    Lifecycle,
    Offer,
    Offers,
    PluginError,
    Profile,
    Proposal,
    Rfm,
    Rules,
    Score,
    Scoring,
    Tag,
    by_priority,
    compare_text,
    counted,
    days_since,
    debug_string,
    end_of_local_day,
    i64,
    kinds,
    local_date,
    max_by,
    plus_days,
    u32,
)
from rulehost_sdk.layout import Text

COUPON_KINDS = frozenset({"new_customer_coupon", "win_back_coupon", "last_chance", "member_day_coupon"})
"""Offer kinds that are coupons: at most one per decision."""

ORDER_UNPAID = "order_unpaid"
"""An order left unpaid (its ``order_id`` in props)."""
UNPAID = "unpaid:"
"""The key of a wake-up that checks whether an order was paid."""
DORMANCY_CHECK = "dormancy-check"
"""The key of the wake-up that checks, after the last purchase, whether the customer went quiet."""
MINUTE = 60_000


@dataclass(frozen=True)
class Settings:
    """The tenant settings the rules use."""

    lifecycle: Lifecycle
    about_to_sleep_days: int
    high_value_min_minor: int
    member_day: int
    unpaid_reminder_minutes: int

    @staticmethod
    def read(ctx: Ctx) -> Settings:
        config = ctx.config
        lifecycle = Lifecycle.from_config(config, "coffee", "coffee.stage")
        about_to_sleep_days = config.required("coffee.about_to_sleep_days", u32)
        if about_to_sleep_days > lifecycle.dormant_after_days:
            raise PluginError(
                "config_invalid",
                f'config key `coffee.about_to_sleep_days` is "{about_to_sleep_days}", expected at most '
                f"{lifecycle.dormant_after_days} (`coffee.dormant_after_days`)",
            )
        member_day = config.or_default("coffee.member_day", u32, 7)
        if not 1 <= member_day <= 28:
            raise PluginError(
                "config_invalid",
                f'config key `coffee.member_day` is "{member_day}", expected a day of the month from 1 to 28',
            )
        high_value_min_minor = config.required("coffee.high_value_min_minor", i64)
        unpaid_reminder_minutes = config.or_default("coffee.unpaid_reminder_minutes", u32, 30)
        if not 1 <= unpaid_reminder_minutes <= 1440:
            raise PluginError(
                "config_invalid",
                f'config key `coffee.unpaid_reminder_minutes` is "{unpaid_reminder_minutes}", '
                "expected 1 to 1440 minutes",
            )
        return Settings(lifecycle, about_to_sleep_days, high_value_min_minor, member_day, unpaid_reminder_minutes)

    def window(self) -> str:
        days = self.lifecycle.window_days
        return "in total" if days is None else f"in the last {days} days"


def yuan(minor: int) -> str:
    """Minor units as yuan, e.g. 123450 → "¥1234.50" (Rust's truncating division)."""
    whole = abs(minor) // 100 * (1 if minor >= 0 else -1)
    return f"¥{whole}.{abs(minor) % 100:02}"


def favourite_category(profile: Profile, now: int, settings: Settings) -> tuple[str, int] | None:
    """The most purchased category in the window: ties go to the one bought most recently."""
    days = settings.lifecycle.window_days
    since = None if days is None else plus_days(now, -days)
    counts: dict[str, list[int]] = {}
    for event in profile.events_of(kinds.PURCHASE):
        at = event.at
        if since is not None and at <= since:
            continue
        category = event.category
        if category is None:
            continue
        entry = counts.setdefault(category, [0, at])
        entry[0] += 1
        entry[1] = at
    # A category too long for a tag name is not counted (checked once per category).
    named = [(c, v) for c, v in counts.items() if len(c) * 3 <= NAME_BYTES or len(c.encode()) <= NAME_BYTES]
    best = max_by(named, lambda a, b: (a[1][0] - b[1][0]) or (a[1][1] > b[1][1]) - (a[1][1] < b[1][1]))
    return None if best is None else (best[0], best[1][0])


@dataclass(frozen=True)
class Pick:
    """An offer chosen for the customer, before the channel is picked."""

    offer: Offer
    rule: str
    reason: str


def keep_one_coupon(ctx: Ctx, picks: list[Pick]) -> list[Pick]:
    """Never more than one coupon: keep the highest priority (then value, then lowest id)."""

    def order(a: Offer, b: Offer) -> int:
        key_a, key_b = (a.priority, a.value_minor), (b.priority, b.value_minor)
        return (key_a > key_b) - (key_a < key_b) or compare_text(b.id, a.id)

    best_offer = max_by((p.offer for p in picks if p.offer.kind in COUPON_KINDS), order)
    best = None if best_offer is None else best_offer.id
    kept = []
    for pick in picks:
        if pick.offer.kind in COUPON_KINDS and pick.offer.id != best:
            ctx.log("info", f"dropped coupon {pick.offer.id}: one coupon per decision, kept {best or '-'}")
        else:
            kept.append(pick)
    return kept


def prop_text(event: Event, key: str) -> str | None:
    """An event's prop as text, if it is text."""
    value = event.prop(key)
    return value.value if isinstance(value, Text) else None


def ask_for_wake_ups(ctx: Ctx, s: Settings) -> None:
    """The wake-ups a moment asks for.

    An unpaid order is checked again after ``coffee.unpaid_reminder_minutes``;
    a purchase (re)sets the dormancy check to the day the customer would turn
    dormant, and clears the reminder of the order it pays.
    """
    trigger = ctx.trigger
    if trigger is None:
        return
    order = prop_text(trigger, "order_id")
    # The host takes wake-ups from a minute after the decision on.
    soonest = ctx.now + MINUTE
    if trigger.is_kind(ORDER_UNPAID) and order is not None:
        minutes = s.unpaid_reminder_minutes
        at = max(trigger.at + minutes * MINUTE, soonest)
        ctx.wake_at(f"{UNPAID}{order}", at, f"order {order} unpaid: remind in {minutes} minutes if it still is")
    if trigger.is_kind(kinds.PURCHASE):
        if order is not None:
            ctx.clear_wake(f"{UNPAID}{order}")
        days = s.lifecycle.dormant_after_days
        at = plus_days(trigger.at, days)
        # A purchase that old made the customer dormant already: this decision sees it.
        if at >= soonest:
            day = local_date(trigger.at, ctx.tz_offset_minutes)
            ctx.wake_at(DORMANCY_CHECK, at, f"no purchase for {days} days after {day}: check whether they went quiet")


def payment_reminder(ctx: Ctx, profile: Profile, offers: Offers, order: str) -> list[Proposal]:
    """The payment reminder for an order still unpaid, on the channel it was left on."""
    left = None
    for event in profile.events_of(ORDER_UNPAID):
        if prop_text(event, "order_id") == order:
            left = event
    if left is None:
        ctx.log("info", f"order {order}: no unpaid order of that id in the profile")
        return []
    since = left.at
    for purchase in profile.events_of(kinds.PURCHASE):
        if prop_text(purchase, "order_id") == order or purchase.at >= since:
            ctx.log("info", f"order {order} was paid: no reminder")
            return []
    offer = offers.best_of_kind("payment_reminder", ctx.now)
    if offer is None:
        return []
    where = left.channel
    channel = where if where is not None and offer.has_channel(where) else next(iter(offer.channels()), None)
    if channel is None:
        return []
    day = local_date(since, ctx.tz_offset_minutes)
    return [
        Proposal(offer.id, channel)
        .score(float(offer.priority))
        .rule("coffee.offer.unpaid-reminder")
        .reason(f"order {order} still unpaid since {day}: remind on {channel}")
    ]


class CoffeeChain(Rules):
    """The coffee brand's rules; config is read once per decision for the three stages."""

    def __init__(self) -> None:
        self._settings: Settings | PluginError | None = None

    def settings(self, ctx: Ctx) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.read(ctx)
            except PluginError as e:
                self._settings = e
        if isinstance(self._settings, PluginError):
            raise self._settings
        return self._settings

    def tag(self, ctx: Ctx, profile: Profile) -> list[Tag]:
        s = self.settings(ctx)
        now = ctx.now
        rfm = Rfm.compute(profile, now, s.lifecycle.window_days)
        tags = []

        purchases = profile.events_of(kinds.PURCHASE)
        first, second = next(purchases, None), next(purchases, None)
        if first is None:
            tags.append(Tag("customer", "new-customer").rule("coffee.tag.new-customer").reason("no purchase yet"))
        elif second is None and days_since(now, first.at) <= s.lifecycle.dormant_after_days:
            tags.append(
                Tag("customer", "new-customer")
                .rule("coffee.tag.new-customer")
                .reason(f"first purchase {days_since(now, first.at)} days ago")
            )

        level = profile.attr("member_level")
        if isinstance(level, Text) and level.value != "" and len(level.value.encode()) <= NAME_BYTES:
            tags.append(
                Tag("member", level.value)
                .rule("coffee.tag.member-level")
                .reason(f"profile attribute member_level is {debug_string(level.value)}")
            )
            today = ctx.today
            if today.day == s.member_day:
                tags.append(
                    Tag("calendar", "member-day")
                    .rule("coffee.tag.member-day")
                    .reason(f"{today} is member day (day {s.member_day} of each month, tenant time)")
                    .expires(end_of_local_day(now, ctx.tz_offset_minutes))
                )

        favourite = favourite_category(profile, now, s)
        if favourite is not None:
            category, count = favourite
            purchases_text = counted(rfm.frequency, "purchase", "purchases")
            tags.append(
                Tag("favourite-category", category)
                .rule("coffee.tag.favourite-category")
                .reason(f"{category} in {count} of {purchases_text} {s.window()}")
            )

        if rfm.monetary_minor >= s.high_value_min_minor:
            tags.append(
                Tag("value", "high-value")
                .rule("coffee.tag.high-value")
                .reason(
                    f"spent {yuan(rfm.monetary_minor)} {s.window()} (high value from {yuan(s.high_value_min_minor)})"
                )
            )

        days = rfm.recency_days
        if days is not None and s.about_to_sleep_days <= days <= s.lifecycle.dormant_after_days:
            tags.append(
                Tag("risk", "about-to-sleep")
                .rule("coffee.tag.about-to-sleep")
                .reason(
                    f"last purchase {days} days ago (about to sleep from {s.about_to_sleep_days}, "
                    f"dormant after {s.lifecycle.dormant_after_days})"
                )
            )
        return tags

    def score(self, ctx: Ctx, profile: Profile, findings: Findings) -> Scoring:
        s = self.settings(ctx)
        now = ctx.now
        rfm = Rfm.compute(profile, now, s.lifecycle.window_days)
        scores = []
        if rfm.recency_days is not None:
            scores.append(
                Score("coffee.recency_days", float(rfm.recency_days))
                .rule("coffee.score.recency")
                .reason(f"last purchase {rfm.recency_days} days ago")
            )
        scores.append(
            Score("coffee.purchases", float(rfm.frequency))
            .rule("coffee.score.frequency")
            .reason(f"{counted(rfm.frequency, 'purchase', 'purchases')} {s.window()}")
        )
        scores.append(
            Score("coffee.spend_minor", float(rfm.monetary_minor))
            .rule("coffee.score.monetary")
            .reason(f"spent {yuan(rfm.monetary_minor)} {s.window()}, net of refunds")
        )
        return Scoring(scores, s.lifecycle.classify(profile, now))

    def target(self, ctx: Ctx, profile: Profile, findings: Findings, offers: Offers) -> list[Proposal]:
        s = self.settings(ctx)
        # Woken to check an unpaid order: the reminder, or nothing.
        woken = ctx.woken
        if woken is not None and woken.key.startswith(UNPAID):
            return payment_reminder(ctx, profile, offers, woken.key.removeprefix(UNPAID))
        ask_for_wake_ups(ctx, s)
        now = ctx.now
        favourites = findings.tags_in("favourite-category")
        picks: list[Pick] = []

        def add(offer: Offer | None, rule: str, reason: str) -> None:
            if offer is not None:
                picks.append(Pick(offer, rule, reason))

        def best(kind: str) -> Offer | None:
            return offers.best_of_kind(kind, now)

        match findings.stage:
            case "introduction":
                add(best("new_customer_coupon"), "coffee.offer.introduction", "new customer: welcome coupon")
            case "growth":
                reason = (
                    f"growing habit around {favourites[0]}: suggest something to go with it"
                    if favourites
                    else "growing habit: suggest something new"
                )
                add(best("cross_sell"), "coffee.offer.growth", reason)
            case "maturity":
                add(best("early_access"), "coffee.offer.maturity", "loyal regular: early access to the new season")
            case "dormancy":
                # Only a limited-time coupon creates urgency: it must end.
                offer = max_by(
                    (o for o in offers if o.kind == "win_back_coupon" and o.is_valid_at(now) and o.ends_at is not None),
                    by_priority,
                )
                if offer is not None:
                    # The last local day on which the coupon still works.
                    until = local_date((offer.ends_at or now) - 1, ctx.tz_offset_minutes)
                    reason = f"going quiet: limited-time win-back coupon, valid until {until}"
                    add(offer, "coffee.offer.dormancy", reason)
            case "churned":
                add(best("last_chance"), "coffee.offer.churned", "churned: one last offer to come back")
                add(best("feedback_survey"), "coffee.offer.churned-survey", "churned: ask what made them leave")
            case "reactivated":
                add(best("cross_sell"), "coffee.offer.reactivated", "came back: rebuild the habit with a pairing")
            case None:
                pass
        if findings.has_tag("calendar", "member-day"):
            level = next(iter(findings.tags_in("member")), "member")
            add(best("member_day_coupon"), "coffee.offer.member-day", f"member day for a {level} member")

        proposals = []
        for pick in keep_one_coupon(ctx, picks):
            choice = pick.offer.channel_for(profile)
            if choice is None:
                continue
            proposals.append(
                Proposal(pick.offer.id, choice.channel)
                .score(float(pick.offer.priority))
                .rule(pick.rule)
                .reason(f"{pick.reason}; on {choice.channel} ({choice.why})")
            )
        return proposals
