// coffee-chain in TypeScript: the rules of a high-frequency coffee brand,
// the same as `plugins/coffee-chain/src/lib.rs` rule for rule, reason for
// reason, so the Rust plugin's fixtures hold for both. See
// `plugins/coffee-chain/README.md` for every rule and config key.

import {
  type Ctx,
  type Event,
  Lifecycle,
  NAME_BYTES,
  type Offer,
  type Offers,
  PluginError,
  type Profile,
  Proposal,
  Score,
  Tag,
  byPriority,
  computeRfm,
  counted,
  daysSince,
  debugString,
  definePlugin,
  endOfLocalDay,
  i64,
  kinds,
  localDate,
  maxBy,
  plusDays,
  compareText,
  u32,
  utf8Length,
} from "@rulehost/sdk";

/** The tenant settings the rules use. */
interface Settings {
  lifecycle: Lifecycle;
  aboutToSleepDays: number;
  highValueMinMinor: bigint;
  memberDay: number;
  unpaidReminderMinutes: number;
}

/** An order left unpaid (its `order_id` in props). */
const ORDER_UNPAID = "order_unpaid";
/** The key of a wake-up that checks whether an order was paid. */
const UNPAID = "unpaid:";
/** The key of the wake-up that checks, after the last purchase, whether the customer went quiet. */
const DORMANCY_CHECK = "dormancy-check";
const MINUTE = 60_000;

function readSettings(ctx: Ctx): Settings {
  const config = ctx.config;
  const lifecycle = Lifecycle.fromConfig(config, "coffee", "coffee.stage");
  const aboutToSleepDays = config.required("coffee.about_to_sleep_days", u32);
  if (aboutToSleepDays > lifecycle.dormantAfterDays) {
    throw new PluginError(
      "config_invalid",
      `config key \`coffee.about_to_sleep_days\` is "${aboutToSleepDays}", expected at most ${lifecycle.dormantAfterDays} (\`coffee.dormant_after_days\`)`,
    );
  }
  const memberDay = config.or("coffee.member_day", u32, 7);
  if (memberDay < 1 || memberDay > 28) {
    throw new PluginError(
      "config_invalid",
      `config key \`coffee.member_day\` is "${memberDay}", expected a day of the month from 1 to 28`,
    );
  }
  const highValueMinMinor = config.required("coffee.high_value_min_minor", i64);
  const unpaidReminderMinutes = config.or("coffee.unpaid_reminder_minutes", u32, 30);
  if (unpaidReminderMinutes < 1 || unpaidReminderMinutes > 1440) {
    throw new PluginError(
      "config_invalid",
      `config key \`coffee.unpaid_reminder_minutes\` is "${unpaidReminderMinutes}", expected 1 to 1440 minutes`,
    );
  }
  return { lifecycle, aboutToSleepDays, highValueMinMinor, memberDay, unpaidReminderMinutes };
}

function window(settings: Settings): string {
  const days = settings.lifecycle.windowDays;
  return days === undefined ? "in total" : `in the last ${days} days`;
}

/** Offer kinds that are coupons: at most one per decision. */
const COUPON_KINDS = new Set(["new_customer_coupon", "win_back_coupon", "last_chance", "member_day_coupon"]);

/** An offer chosen for the customer, before the channel is picked. */
interface Pick {
  offer: Offer;
  rule: string;
  reason: string;
}

/** Minor units as yuan, e.g. 123450 → "¥1234.50". */
export function yuan(minor: bigint): string {
  const cents = minor % 100n;
  return `¥${minor / 100n}.${String(cents < 0n ? -cents : cents).padStart(2, "0")}`;
}

/**
 * The most purchased category in the window: ties go to the category with
 * the most recent purchase.
 */
function favouriteCategory(profile: Profile, now: number, settings: Settings): [string, number] | undefined {
  const days = settings.lifecycle.windowDays;
  const since = days === undefined ? undefined : plusDays(now, -days);
  // Per category: purchases, the latest one's time (in the order first met).
  const counts = new Map<string, [number, number]>();
  for (const event of profile.eventsOf(kinds.PURCHASE)) {
    const at = event.at;
    if (since !== undefined && at <= since) continue;
    const category = event.category;
    if (category === undefined) continue;
    const entry = counts.get(category);
    if (entry === undefined) counts.set(category, [1, at]);
    else {
      entry[0] += 1;
      entry[1] = at;
    }
  }
  // A category too long for a tag name is not counted (checked once per category).
  let best: [string, number, number] | undefined;
  for (const entry of counts) {
    const category = entry[0];
    const count = entry[1][0];
    const at = entry[1][1];
    // The last of the greatest, as Rust's max_by.
    if (fitsName(category) && (best === undefined || count - best[1] > 0 || (count === best[1] && at >= best[2]))) {
      best = [category, count, at];
    }
  }
  return best === undefined ? undefined : [best[0], best[1]];
}

/** Whether `s` fits a tag name: at most 3 bytes of UTF-8 per UTF-16 unit, counted only when that could be too many. */
function fitsName(s: string): boolean {
  return s.length * 3 <= NAME_BYTES || utf8Length(s) <= NAME_BYTES;
}

/**
 * Never more than one coupon per decision: keep the coupon with the highest
 * priority (then value, then lowest id) and drop the others.
 */
function keepOneCoupon(ctx: Ctx, picks: Pick[]): Pick[] {
  const isCoupon = (o: Offer) => COUPON_KINDS.has(o.kind);
  const best = maxBy(
    picks.map((p) => p.offer).filter(isCoupon),
    (a, b) => a.priority - b.priority || (a.valueMinor < b.valueMinor ? -1 : a.valueMinor > b.valueMinor ? 1 : 0) || compareText(b.id, a.id),
  )?.id;
  return picks.filter(({ offer }) => {
    const keep = !isCoupon(offer) || offer.id === best;
    if (!keep) ctx.log("info", `dropped coupon ${offer.id}: one coupon per decision, kept ${best ?? "-"}`);
    return keep;
  });
}

/** An event's prop as text, if it is text. */
function propText(event: Event, key: string): string | undefined {
  const v = event.prop(key);
  return v?.kind === "text" ? v.value : undefined;
}

/**
 * The wake-ups a moment asks for: an unpaid order is checked again after
 * `coffee.unpaid_reminder_minutes`, and a purchase (re)sets the dormancy check
 * to the day the customer would turn dormant, and clears the reminder of the
 * order it pays.
 */
function askForWakeUps(ctx: Ctx, s: Settings): void {
  const trigger = ctx.trigger;
  if (trigger === undefined) return;
  const order = propText(trigger, "order_id");
  // The host takes wake-ups from a minute after the decision on.
  const soonest = ctx.now + MINUTE;
  if (trigger.is(ORDER_UNPAID) && order !== undefined) {
    const minutes = s.unpaidReminderMinutes;
    ctx.wakeAt(
      `${UNPAID}${order}`,
      Math.max(trigger.at + minutes * MINUTE, soonest),
      `order ${order} unpaid: remind in ${minutes} minutes if it still is`,
    );
  }
  if (trigger.is(kinds.PURCHASE)) {
    if (order !== undefined) ctx.clearWake(`${UNPAID}${order}`);
    const days = s.lifecycle.dormantAfterDays;
    const at = plusDays(trigger.at, days);
    // A purchase that old made the customer dormant already: this decision sees it.
    if (at >= soonest) {
      const day = localDate(trigger.at, ctx.tzOffsetMinutes);
      ctx.wakeAt(DORMANCY_CHECK, at, `no purchase for ${days} days after ${day.toString()}: check whether they went quiet`);
    }
  }
}

/**
 * The payment reminder for an order still unpaid (no purchase of it, or of
 * anything, since it was left), on the channel it was left on when the offer
 * goes there.
 */
function paymentReminder(ctx: Ctx, profile: Profile, offers: Offers, order: string): Proposal[] {
  let left: Event | undefined;
  for (const e of profile.eventsOf(ORDER_UNPAID)) if (propText(e, "order_id") === order) left = e;
  if (left === undefined) {
    ctx.log("info", `order ${order}: no unpaid order of that id in the profile`);
    return [];
  }
  const since = left.at;
  for (const p of profile.eventsOf(kinds.PURCHASE)) {
    if (propText(p, "order_id") === order || p.at >= since) {
      ctx.log("info", `order ${order} was paid: no reminder`);
      return [];
    }
  }
  const offer = offers.bestOfKind("payment_reminder", ctx.now);
  if (offer === undefined) return [];
  const where = left.channel;
  let channel = where !== undefined && offer.hasChannel(where) ? where : undefined;
  if (channel === undefined) {
    for (const c of offer.channels()) {
      channel = c;
      break;
    }
  }
  if (channel === undefined) return [];
  const day = localDate(since, ctx.tzOffsetMinutes);
  return [
    new Proposal(offer.id, channel)
      .score(offer.priority)
      .rule("coffee.offer.unpaid-reminder")
      .reason(`order ${order} still unpaid since ${day.toString()}: remind on ${channel}`),
  ];
}

export default definePlugin(() => {
  // Config is read once per decision and shared by the three stages.
  let settings: Settings | PluginError | undefined;
  const read = (ctx: Ctx): Settings => {
    if (settings === undefined) {
      try {
        settings = readSettings(ctx);
      } catch (e) {
        if (!(e instanceof PluginError)) throw e;
        settings = e;
      }
    }
    if (settings instanceof PluginError) throw settings;
    return settings;
  };

  return {
    tag(ctx, profile) {
      const s = read(ctx);
      const now = ctx.now;
      const rfm = computeRfm(profile, now, s.lifecycle.windowDays);
      const tags: Tag[] = [];

      const purchases = profile.eventsOf(kinds.PURCHASE);
      const first = purchases[0];
      if (first === undefined) {
        tags.push(new Tag("customer", "new-customer").rule("coffee.tag.new-customer").reason("no purchase yet"));
      } else if (purchases.length === 1 && daysSince(now, first.at) <= s.lifecycle.dormantAfterDays) {
        tags.push(
          new Tag("customer", "new-customer")
            .rule("coffee.tag.new-customer")
            .reason(`first purchase ${daysSince(now, first.at)} days ago`),
        );
      }

      const level = profile.attr("member_level");
      if (level?.kind === "text" && level.value !== "" && fitsName(level.value)) {
        tags.push(
          new Tag("member", level.value)
            .rule("coffee.tag.member-level")
            .reason(`profile attribute member_level is ${debugString(level.value)}`),
        );
        const today = ctx.today;
        if (today.day === s.memberDay) {
          tags.push(
            new Tag("calendar", "member-day")
              .rule("coffee.tag.member-day")
              .reason(`${today.toString()} is member day (day ${s.memberDay} of each month, tenant time)`)
              .expires(endOfLocalDay(now, ctx.tzOffsetMinutes)),
          );
        }
      }

      const favourite = favouriteCategory(profile, now, s);
      if (favourite !== undefined) {
        const category = favourite[0];
        const count = favourite[1];
        tags.push(
          new Tag("favourite-category", category)
            .rule("coffee.tag.favourite-category")
            .reason(`${category} in ${count} of ${counted(rfm.frequency, "purchase", "purchases")} ${window(s)}`),
        );
      }

      if (rfm.monetaryMinor >= s.highValueMinMinor) {
        tags.push(
          new Tag("value", "high-value")
            .rule("coffee.tag.high-value")
            .reason(`spent ${yuan(rfm.monetaryMinor)} ${window(s)} (high value from ${yuan(s.highValueMinMinor)})`),
        );
      }

      const days = rfm.recencyDays;
      if (days !== undefined && days >= s.aboutToSleepDays && days <= s.lifecycle.dormantAfterDays) {
        tags.push(
          new Tag("risk", "about-to-sleep")
            .rule("coffee.tag.about-to-sleep")
            .reason(
              `last purchase ${days} days ago (about to sleep from ${s.aboutToSleepDays}, dormant after ${s.lifecycle.dormantAfterDays})`,
            ),
        );
      }
      return tags;
    },

    score(ctx, profile) {
      const s = read(ctx);
      const now = ctx.now;
      const rfm = computeRfm(profile, now, s.lifecycle.windowDays);
      const scores: Score[] = [];
      if (rfm.recencyDays !== undefined) {
        scores.push(
          new Score("coffee.recency_days", rfm.recencyDays)
            .rule("coffee.score.recency")
            .reason(`last purchase ${rfm.recencyDays} days ago`),
        );
      }
      scores.push(
        new Score("coffee.purchases", rfm.frequency)
          .rule("coffee.score.frequency")
          .reason(`${counted(rfm.frequency, "purchase", "purchases")} ${window(s)}`),
      );
      scores.push(
        new Score("coffee.spend_minor", Number(rfm.monetaryMinor))
          .rule("coffee.score.monetary")
          .reason(`spent ${yuan(rfm.monetaryMinor)} ${window(s)}, net of refunds`),
      );
      return { scores, stage: s.lifecycle.classify(profile, now) };
    },

    target(ctx, profile, findings, offers) {
      const s = read(ctx);
      // Woken to check an unpaid order: the reminder, or nothing.
      const woken = ctx.woken;
      if (woken?.key.startsWith(UNPAID) === true) {
        return paymentReminder(ctx, profile, offers, woken.key.slice(UNPAID.length));
      }
      askForWakeUps(ctx, s);
      const now = ctx.now;
      const favourite = findings.tagsIn("favourite-category")[0];
      const picks: Pick[] = [];
      const add = (offer: Offer | undefined, rule: string, reason: string) => {
        if (offer !== undefined) picks.push({ offer, rule, reason });
      };
      const best = (kind: string) => offers.bestOfKind(kind, now);
      switch (findings.stage) {
        case "introduction":
          add(best("new_customer_coupon"), "coffee.offer.introduction", "new customer: welcome coupon");
          break;
        case "growth":
          add(
            best("cross_sell"),
            "coffee.offer.growth",
            favourite === undefined
              ? "growing habit: suggest something new"
              : `growing habit around ${favourite}: suggest something to go with it`,
          );
          break;
        case "maturity":
          add(best("early_access"), "coffee.offer.maturity", "loyal regular: early access to the new season");
          break;
        case "dormancy": {
          // Only a limited-time coupon creates urgency: it must end.
          const offer = maxBy(
            [...offers].filter((o) => o.kind === "win_back_coupon" && o.isValidAt(now) && o.endsAt !== undefined),
            byPriority,
          );
          if (offer !== undefined) {
            // The last local day on which the coupon still works.
            const until = localDate((offer.endsAt ?? now) - 1, ctx.tzOffsetMinutes);
            add(offer, "coffee.offer.dormancy", `going quiet: limited-time win-back coupon, valid until ${until.toString()}`);
          }
          break;
        }
        case "churned":
          add(best("last_chance"), "coffee.offer.churned", "churned: one last offer to come back");
          add(best("feedback_survey"), "coffee.offer.churned-survey", "churned: ask what made them leave");
          break;
        case "reactivated":
          add(best("cross_sell"), "coffee.offer.reactivated", "came back: rebuild the habit with a pairing");
          break;
        case undefined:
          break;
      }
      if (findings.hasTag("calendar", "member-day")) {
        const level = findings.tagsIn("member")[0] ?? "member";
        add(best("member_day_coupon"), "coffee.offer.member-day", `member day for a ${level} member`);
      }
      return keepOneCoupon(ctx, picks).flatMap(({ offer, rule, reason }) => {
        const choice = offer.channelFor(profile);
        if (choice === undefined) return [];
        return [
          new Proposal(offer.id, choice.channel)
            .score(offer.priority)
            .rule(rule)
            .reason(`${reason}; on ${choice.channel} (${choice.why})`),
        ];
      });
    },
  };
});

