//! Synthetic customers for benchmarks, tests, demos and simulation:
//! `rulehost gen-profiles --brand coffee|apparel --n N --seed S`.
//!
//! Each customer follows an archetype (new, growing, loyal, fading, gone,
//! back again…) that sets their purchase cadence, so a generated population
//! lands in every lifecycle stage and RFM segment; around the purchases come
//! refunds, views, clicks, shares, reviews and coupon events on the brand's
//! channels, 20–200 events in all, and 30–50 attributes. The same seed always
//! gives the same customers (a small splitmix64 generator, no platform or
//! library dependence).

use serde_json::{Map, Value, json};

use crate::model::{SplitMix64 as Rng, Timestamp};

/// Which brand's customers to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Brand {
    /// A high-frequency coffee chain.
    Coffee,
    /// A seasonal fashion brand.
    Apparel,
}

/// The decision time generated profiles are meant for (events lie before
/// it), unless another is given.
pub const DEFAULT_NOW: &str = "2026-03-10T10:00:00+08:00";

struct BrandData {
    categories: &'static [&'static str],
    channels: &'static [&'static str],
    amount: (i64, i64),
    archetypes: &'static [Archetype],
    member_levels: &'static [&'static str],
    prefix: &'static str,
}

/// A kind of customer the generator draws: `(name, weight, purchases range,
/// days-since-last-purchase range, spread of the purchases in days)`.
type Archetype = (&'static str, u32, (i64, i64), (i64, i64), i64);

const COFFEE: BrandData = BrandData {
    categories: &[
        "latte",
        "americano",
        "flat-white",
        "mocha",
        "cold-brew",
        "tea-latte",
        "pastry",
        "sandwich",
    ],
    channels: &["mini_program", "store", "wecom_1v1", "app_push", "meituan", "eleme"],
    amount: (1_500, 6_500),
    archetypes: &[
        ("prospect", 8, (0, 0), (0, 0), 0),
        ("new", 12, (1, 2), (0, 10), 12),
        ("growing", 20, (3, 7), (0, 13), 80),
        ("regular", 25, (8, 40), (0, 6), 88),
        ("fading", 15, (3, 12), (15, 44), 80),
        ("gone", 12, (2, 10), (46, 200), 120),
        ("back", 8, (2, 6), (0, 7), 150),
    ],
    member_levels: &["green", "silver", "gold", "black"],
    prefix: "cf",
};

const APPAREL: BrandData = BrandData {
    categories: &[
        "dresses",
        "knitwear",
        "denim",
        "outerwear",
        "shoes",
        "accessories",
        "kids",
    ],
    channels: &[
        "tmall",
        "jd",
        "douyin",
        "store",
        "wecom_1v1",
        "xiaohongshu",
        "mini_program",
    ],
    amount: (9_900, 129_900),
    archetypes: &[
        ("prospect", 6, (0, 0), (0, 0), 0),
        ("new", 14, (1, 1), (0, 40), 10),
        ("promising", 12, (1, 3), (25, 80), 120),
        ("champion", 10, (5, 14), (0, 30), 300),
        ("loyal", 16, (4, 9), (30, 100), 330),
        ("at-risk", 16, (3, 6), (121, 240), 300),
        ("hibernating", 16, (1, 2), (241, 360), 100),
        ("back", 10, (2, 4), (0, 60), 330),
    ],
    member_levels: &["none", "silver", "gold", "black-card"],
    prefix: "ap",
};

/// Attribute keys beyond the brand's own, to reach 30–50 attributes.
const FILLER: &[&str] = &[
    "pref_size",
    "pref_color",
    "pref_store",
    "pref_time",
    "pref_milk",
    "pref_sweetness",
    "family_size",
    "has_kids",
    "has_pets",
    "occupation",
    "income_band",
    "education",
    "marital_status",
    "car_owner",
    "home_district",
    "work_district",
    "app_version",
    "device_os",
    "last_survey_nps",
    "referral_code",
    "referred_by",
    "wechat_group",
    "crm_segment",
    "crm_owner",
    "loyalty_points",
    "wallet_balance_minor",
    "gift_card",
    "newsletter",
    "language",
    "notes",
    "tag_student",
    "tag_night_owl",
    "tag_commuter",
    "tag_weekend",
    "tag_healthy",
    "tag_premium",
    "tag_discount_seeker",
    "tag_gifting",
    "tag_eco",
    "tag_sports",
    "tag_travel",
];

/// Generates `n` customers of `brand` from `seed`, as JSON profiles, with
/// events before `now`.
pub fn profiles(brand: Brand, n: usize, seed: u64, now: Timestamp) -> impl Iterator<Item = Value> {
    let data = match brand {
        Brand::Coffee => &COFFEE,
        Brand::Apparel => &APPAREL,
    };
    (0..n).map(move |i| {
        // One stream per customer: customer i is the same whatever n is.
        let mut rng = Rng(seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        profile(data, &mut rng, i, now)
    })
}

fn archetype(data: &BrandData, rng: &mut Rng) -> (&'static str, i64, i64, i64) {
    let total: u32 = data.archetypes.iter().map(|a| a.1).sum();
    let mut draw = (rng.next_u64() % u64::from(total)) as u32;
    for &(name, weight, purchases, since_last, spread) in data.archetypes {
        if draw < weight {
            return (
                name,
                rng.range(purchases.0, purchases.1),
                rng.range(since_last.0, since_last.1),
                spread,
            );
        }
        draw -= weight;
    }
    ("prospect", 0, 0, 0)
}

const MS_PER_DAY: i64 = 86_400_000;

fn at(now: Timestamp, days_ago: i64, rng: &mut Rng) -> String {
    // Business hours in UTC+8: 00:00–13:00 UTC.
    let ms = now.0 - days_ago * MS_PER_DAY - rng.range(0, 12 * 3_600_000) - 60_000;
    Timestamp(ms).to_rfc3339().unwrap_or_default()
}

fn profile(data: &BrandData, rng: &mut Rng, i: usize, now: Timestamp) -> Value {
    let (kind, purchases, since_last, spread) = archetype(data, rng);
    let favourite = *rng.pick(data.categories);
    let home_channel = *rng.pick(data.channels);
    let mut events: Vec<Value> = Vec::new();
    // Purchases: the last one `since_last` days ago, the others spread
    // before it; "back" customers have a long gap before the last one.
    let mut days = since_last;
    for p in 0..purchases {
        let category = if rng.chance(0.6) {
            favourite
        } else {
            *rng.pick(data.categories)
        };
        let channel = if rng.chance(0.7) {
            home_channel
        } else {
            *rng.pick(data.channels)
        };
        let amount = rng.range(data.amount.0, data.amount.1);
        events.push(json!({
            "kind": "purchase", "at": at(now, days, rng), "channel": channel, "amount_minor": amount,
            "sku": format!("{}-{}-{}", data.prefix, category, rng.range(1, 40)), "category": category,
        }));
        if rng.chance(0.03) {
            events.push(json!({"kind": "refund", "at": at(now, (days - 1).max(0), rng), "amount_minor": amount / 2}));
        }
        let gap = if kind == "back" && p == 0 {
            rng.range(60, 120)
        } else {
            (spread / purchases.max(1)).max(1)
        };
        days += rng.range(1, gap.max(1) * 2);
    }
    // Everything else, to 20–200 events.
    let target = rng.range(20, 200) as usize;
    let others = [
        "view",
        "view",
        "view",
        "click",
        "click",
        "share",
        "like",
        "comment",
        "review",
        "message",
        "coupon_received",
        "coupon_redeemed",
        "join_group",
        "subscribe",
        "payment_abandoned",
        "ugc",
    ];
    while events.len() < target {
        let kind = *rng.pick(&others);
        let mut event =
            json!({"kind": kind, "at": at(now, rng.range(0, 365), rng), "channel": rng.pick(data.channels)});
        if kind == "view" || kind == "click" {
            event["category"] = json!(rng.pick(data.categories));
        }
        if rng.chance(0.3) {
            event["props"] = json!({"campaign": format!("c{}", rng.range(1, 30)), "position": rng.range(1, 10)});
        }
        events.push(event);
    }
    // 30–50 attributes.
    let mut attributes = Map::new();
    attributes.insert("member_level".into(), json!(rng.pick(data.member_levels)));
    attributes.insert("channel_source".into(), json!(rng.pick(data.channels)));
    attributes.insert(
        "city".into(),
        json!(rng.pick(&["Shanghai", "Beijing", "Hangzhou", "Chengdu", "Shenzhen", "Wuhan"])),
    );
    attributes.insert(
        "age_band".into(),
        json!(rng.pick(&["18-24", "25-34", "35-44", "45-54", "55+"])),
    );
    attributes.insert("gender".into(), json!(rng.pick(&["f", "m", "unknown"])));
    attributes.insert(
        "birthday".into(),
        json!(format!(
            "{}-{:02}-{:02}",
            rng.range(1960, 2006),
            rng.range(1, 12),
            rng.range(1, 28)
        )),
    );
    attributes.insert("signup_at".into(), json!(at(now, rng.range(30, 900), rng)));
    attributes.insert("consent.sms".into(), json!(rng.chance(0.85)));
    attributes.insert("consent.wecom_1v1".into(), json!(rng.chance(0.95)));
    attributes.insert("archetype".into(), json!(kind));
    let extra = rng.range(20, 40) as usize;
    let start = (rng.next_u64() % FILLER.len() as u64) as usize;
    for k in 0..extra.min(FILLER.len()) {
        let key = FILLER[(start + k) % FILLER.len()];
        let value = match rng.range(0, 3) {
            0 => json!(rng.chance(0.5)),
            1 => json!(rng.range(0, 5_000)),
            _ => json!(format!("v{}", rng.range(1, 50))),
        };
        attributes.insert(key.into(), value);
    }
    json!({
        "customer_id": format!("{}-{:07}", data.prefix, i),
        "identities": {
            "wechat_openid": format!("o{:016x}", rng.next_u64()),
            "phone_hash": format!("{:016x}", rng.next_u64()),
        },
        "attributes": attributes,
        "events": events,
    })
}

/// What `rulehost check` decides for: the edge shapes of
/// [`rulehost_check::shapes`] at `now`, then `n` generated customers of
/// `brand` from `seed`.
pub fn check_customers(brand: Brand, n: usize, seed: u64, now: Timestamp) -> Vec<rulehost_check::Customer> {
    let mut customers = rulehost_check::shapes(now, &crate::model::InputLimits::default());
    customers.extend(profiles(brand, n, seed, now).enumerate().map(|(i, profile)| {
        let profile: crate::model::Profile =
            serde_json::from_value(profile).expect("a generated customer is a profile");
        rulehost_check::Customer {
            label: format!("generated customer {i} ({})", profile.customer_id),
            profile,
        }
    }));
    customers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Profile;

    fn now() -> Timestamp {
        Timestamp::parse(DEFAULT_NOW).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_customers_and_another_seed_others() {
        let a: Vec<Value> = profiles(Brand::Coffee, 20, 7, now()).collect();
        let b: Vec<Value> = profiles(Brand::Coffee, 20, 7, now()).collect();
        let c: Vec<Value> = profiles(Brand::Coffee, 20, 8, now()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Customer 3 does not depend on how many are generated.
        assert_eq!(profiles(Brand::Coffee, 5, 7, now()).nth(3), Some(a[3].clone()));
    }

    #[test]
    fn profiles_are_valid_and_within_the_promised_shape() {
        for brand in [Brand::Coffee, Brand::Apparel] {
            for value in profiles(brand, 200, 1, now()) {
                let profile: Profile = serde_json::from_value(value).expect("a valid profile");
                assert!(
                    (20..=200 + 30).contains(&profile.events.len()),
                    "{} events",
                    profile.events.len()
                );
                assert!(
                    (30..=50).contains(&profile.attributes.len()),
                    "{} attributes",
                    profile.attributes.len()
                );
                assert!(profile.events.iter().all(|e| e.at < now()));
            }
        }
    }
}
