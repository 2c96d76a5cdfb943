//! Customers of the shapes a plugin meets only now and then in production,
//! and must survive: nobody, the most the host accepts, events out of
//! order, text in every script, amounts at the ends of their range, every
//! stage a previous decision can leave, and times at the edges.

use std::collections::BTreeMap;

use rulehost_model::{Event, InputLimits, Prior, PriorTag, Profile, SplitMix64 as Rng, Stage, Timestamp, Value};

use crate::Customer;

const DAY_MS: i64 = 86_400_000;

/// The kinds of event the generated shapes use (a plugin sees an open set).
const KINDS: [&str; 8] = [
    "purchase",
    "refund",
    "view",
    "click",
    "share",
    "review",
    "coupon_used",
    "follow",
];

/// Text a plugin must take as it comes: CJK, emoji (outside the BMP, and
/// joined), right-to-left, combining marks, control characters, an
/// escape and quotes (the host refuses NUL, so no plugin meets it).
const TEXTS: [&str; 8] = [
    "拿铁咖啡",
    "☕️🥐",
    "👩‍👩‍👧‍👦",
    "مرحبا",
    "e\u{301}clair",
    "tab\tand\nnewline",
    "\u{1b}[31mred",
    "\"quoted\" \\ back",
];

fn event(kind: &str, at: i64, amount: Option<i64>) -> Event {
    Event {
        kind: kind.into(),
        at: Timestamp(at),
        channel: Some("mini_program".into()),
        amount_minor: amount,
        sku: None,
        category: Some("latte".into()),
        props: BTreeMap::new(),
    }
}

/// `n` events of every kind over the `days` before `now`, purchases with
/// ordinary amounts, newest last.
fn history(rng: &mut Rng, now: i64, n: usize, days: i64) -> Vec<Event> {
    let mut events: Vec<Event> = (0..n)
        .map(|_| {
            let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
            let at = now - 1 - rng.below((days * DAY_MS) as u64) as i64;
            let amount = matches!(kind, "purchase" | "refund").then(|| 500 + rng.below(20_000) as i64);
            event(kind, at, amount)
        })
        .collect();
    events.sort_by_key(|e| e.at.0);
    events
}

fn customer(label: &str, profile: Profile) -> Customer {
    Customer {
        label: label.into(),
        profile,
    }
}

/// The edge shapes, for a decision at `now` under `limits` (the most
/// events, attributes and characters the host accepts).
pub fn shapes(now: Timestamp, limits: &InputLimits) -> Vec<Customer> {
    let now = now.0;
    let mut rng = Rng(0x7275_6c65_6368_6b00);
    let mut out = vec![customer(
        "empty: no events, attributes or identities",
        Profile::with_id("check-empty"),
    )];

    let mut huge = Profile::with_id("check-huge");
    huge.events = history(&mut rng, now, limits.events, 3 * 366);
    huge.attributes = (0..limits.attributes)
        .map(|i| (format!("attribute_{i}"), Value::Int(i as i64)))
        .collect();
    huge.identities = (0..limits.identities)
        .map(|i| (format!("id_kind_{i}"), format!("id-{i}")))
        .collect();
    out.push(customer(
        &format!(
            "huge: {} events over three years, {} attributes, {} identities",
            limits.events, limits.attributes, limits.identities
        ),
        huge,
    ));

    let mut unsorted = Profile::with_id("check-unsorted");
    unsorted.events = history(&mut rng, now, 200, 400);
    for i in (1..unsorted.events.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        unsorted.events.swap(i, j);
    }
    out.push(customer("unsorted: 200 events in no order", unsorted));

    let mut same = Profile::with_id("check-same-instant");
    same.events = (0..50)
        .map(|i| event(KINDS[i % KINDS.len()], now - DAY_MS, Some(1_000)))
        .collect();
    out.push(customer("same instant: 50 events at one millisecond", same));

    let mut unicode = Profile::with_id("顾客-☕-مرحبا");
    unicode.identities = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("身份{i}"), (*t).to_owned()))
        .collect();
    unicode.attributes = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("属性_{i}"), Value::Text((*t).to_owned())))
        .collect();
    unicode.events = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| Event {
            kind: (*t).to_owned(),
            channel: Some((*t).to_owned()),
            sku: Some((*t).to_owned()),
            category: Some((*t).to_owned()),
            props: BTreeMap::from([((*t).to_owned(), Value::Text((*t).to_owned()))]),
            ..event("purchase", now - (i as i64 + 1) * DAY_MS, Some(2_800))
        })
        .collect();
    out.push(customer(
        "unicode: ids, kinds, channels, categories and attributes in every script",
        unicode,
    ));

    let long = "長".repeat(limits.string_chars);
    let mut long_text = Profile::with_id(long.clone());
    long_text.attributes = BTreeMap::from([(long.clone(), Value::Text(long.clone()))]);
    long_text.events = vec![Event {
        category: Some(long.clone()),
        channel: Some(long.clone()),
        ..event("purchase", now - DAY_MS, Some(2_800))
    }];
    out.push(customer(
        &format!("long text: strings of {} characters", limits.string_chars),
        long_text,
    ));

    let mut extreme = Profile::with_id("check-extreme-amounts");
    extreme.events = [i64::MAX, i64::MAX, i64::MIN, -1, 0, 1, i64::MAX / 2]
        .iter()
        .enumerate()
        .map(|(i, &amount)| {
            event(
                if amount < 0 { "refund" } else { "purchase" },
                now - (i as i64 + 1) * DAY_MS,
                Some(amount),
            )
        })
        .collect();
    extreme.attributes = BTreeMap::from([
        ("lifetime_value_minor".into(), Value::Int(i64::MAX)),
        ("debt_minor".into(), Value::Int(i64::MIN)),
        ("score".into(), Value::Float(f64::MAX)),
        ("tiny".into(), Value::Float(f64::MIN_POSITIVE)),
        ("negative".into(), Value::Float(-1e300)),
        ("birthday".into(), Value::Text(String::new())),
        ("member_since".into(), Value::Time(Timestamp(0))),
        ("opted_in".into(), Value::Flag(false)),
    ]);
    out.push(customer(
        "extreme amounts: i64::MAX twice (a sum overflows), i64::MIN, -1, 0",
        extreme,
    ));

    let mut edges = Profile::with_id("check-time-edges");
    edges.events = vec![
        event("purchase", i64::from(i32::MIN), Some(100)),
        event("purchase", 0, Some(100)),
        event("purchase", now, Some(100)),
        event("purchase", now + DAY_MS, Some(100)),
        event("view", now + 365 * DAY_MS, None),
    ];
    out.push(customer(
        "time edges: events before 1970, at the epoch, at the decision's now and after it",
        edges,
    ));

    let mut no_money = Profile::with_id("check-no-amounts");
    no_money.events = (0..30).map(|i| event("purchase", now - i * DAY_MS - 1, None)).collect();
    out.push(customer("purchases without amounts", no_money));

    for stage in Stage::ALL {
        let name = serde_json::to_value(stage)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut profile = Profile::with_id(format!("check-prior-{name}"));
        let n = 20 + rng.below(60) as usize;
        profile.events = history(&mut rng, now, n, 200);
        profile.prior = Prior {
            tags: vec![PriorTag {
                group: "lifecycle".into(),
                name: name.clone(),
                reason: None,
                rule_id: None,
                expires_at: None,
            }],
            stage: Some(stage),
        };
        out.push(customer(&format!("a previous decision left stage {name}"), profile));
    }
    out
}
