use proptest::prelude::*;
use rulehost_model::{Value, from_json};

use super::*;

fn event(json: &str) -> EventIn {
    from_json("event", json).expect("an event")
}

const DAY: i64 = 86_400_000;

fn at(day: i64) -> Timestamp {
    Timestamp(1_772_323_200_000 + day * DAY)
}

/// An event of a kind by number: behaviour, attributes, or identify.
fn arbitrary_event(n: usize, kind: u8, day: i64, key: u8, value: Option<i64>) -> EventIn {
    let mut e = EventIn {
        event_id: format!("e-{n}"),
        customer_id: "c".into(),
        kind: "purchase".into(),
        at: at(day),
        channel: None,
        amount_minor: Some(100 * n as i64),
        sku: None,
        category: None,
        props: BTreeMap::new(),
    };
    let key = format!("k{key}");
    match kind % 3 {
        0 => {}
        1 => {
            e.kind = ATTRIBUTES.into();
            e.props.insert(key, value.map(Value::Int));
        }
        _ => {
            e.kind = IDENTIFY.into();
            e.props
                .insert(key, Some(Value::Text(format!("id-{}", value.unwrap_or(0)))));
        }
    }
    e
}

fn events() -> impl Strategy<Value = Vec<EventIn>> {
    prop::collection::vec((any::<u8>(), 0i64..60, 0u8..4, prop::option::of(0i64..5)), 0..24).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(n, (kind, day, key, value))| arbitrary_event(n, kind, day, key, value))
            .collect()
    })
}

/// Of events at the same instant, the kept order is the order taken:
/// compare as multisets, plus the time order.
fn normalised(mut kept: Kept) -> Kept {
    kept.profile.events.sort_by_key(|e| (e.at, e.amount_minor));
    kept
}

proptest! {
    /// The same events taken in any order give the same profile, as long
    /// as no two updates of one attribute or identity share an instant.
    #[test]
    fn folding_does_not_depend_on_the_order_events_arrive_in(events in events(), seed in any::<u64>()) {
        let distinct = {
            let mut seen = std::collections::BTreeSet::new();
            events.iter().filter(|e| !e.is_behaviour())
                .flat_map(|e| e.props.keys().map(move |k| (e.kind.clone(), k.clone(), e.at)))
                .all(|k| seen.insert(k))
        };
        prop_assume!(distinct);
        let mut forward = Kept::new("c");
        events.iter().for_each(|e| forward.take(e));
        let mut shuffled = events.clone();
        let n = shuffled.len();
        for i in 0..n {
            let j = (seed as usize).wrapping_mul(31).wrapping_add(i * 7) % n.max(1);
            shuffled.swap(i, j);
        }
        let mut other = Kept::new("c");
        shuffled.iter().for_each(|e| other.take(e));
        prop_assert_eq!(normalised(forward), normalised(other));
    }

    /// Folding some events into one profile and the rest into another, then
    /// merging, is folding them all into one.
    #[test]
    fn absorbing_a_profile_is_folding_its_events(events in events(), split in 0usize..24) {
        let split = split.min(events.len());
        let mut whole = Kept::new("c");
        events.iter().for_each(|e| whole.take(e));
        let (mut a, mut b) = (Kept::new("c"), Kept::new("c"));
        events[..split].iter().for_each(|e| a.take(e));
        events[split..].iter().for_each(|e| b.take(e));
        a.absorb(b);
        prop_assert_eq!(normalised(a), normalised(whole));
    }

    /// What is encoded decodes to the same profile.
    #[test]
    fn the_kept_form_reads_back(events in events()) {
        let mut kept = Kept::new("c");
        events.iter().for_each(|e| kept.take(e));
        let bytes = kept.encode(&InputLimits::default()).unwrap();
        prop_assert_eq!(Kept::decode(&bytes).unwrap(), kept);
    }
}

#[test]
fn a_later_attribute_wins_whichever_arrives_first_and_null_removes() {
    let mut kept = Kept::new("c");
    kept.take(&event(
        r#"{"event_id":"2","customer_id":"c","kind":"attributes","at":"2026-03-02T00:00:00Z","props":{"tier":"gold"}}"#,
    ));
    kept.take(&event(r#"{"event_id":"1","customer_id":"c","kind":"attributes","at":"2026-03-01T00:00:00Z","props":{"tier":"silver","city":"sh"}}"#));
    assert_eq!(kept.profile.attributes["tier"], Value::Text("gold".into()));
    assert_eq!(kept.profile.attributes["city"], Value::Text("sh".into()));
    kept.take(&event(
        r#"{"event_id":"3","customer_id":"c","kind":"attributes","at":"2026-03-03T00:00:00Z","props":{"tier":null}}"#,
    ));
    assert!(!kept.profile.attributes.contains_key("tier"));
    kept.take(&event(r#"{"event_id":"4","customer_id":"c","kind":"attributes","at":"2026-03-02T12:00:00Z","props":{"tier":"bronze"}}"#));
    assert!(
        !kept.profile.attributes.contains_key("tier"),
        "an older update does not bring it back"
    );
}

#[test]
fn events_are_kept_in_time_order_within_bounds() {
    let mut kept = Kept::new("c");
    for (i, day) in [5, 1, 3, 9, 7].iter().enumerate() {
        kept.take(&arbitrary_event(i, 0, *day, 0, None));
    }
    let days: Vec<i64> = kept.profile.events.iter().map(|e| (e.at.0 - at(0).0) / DAY).collect();
    assert_eq!(days, [1, 3, 5, 7, 9]);
    // Two most recent of those within 5 days of day 10.
    let dropped = kept.bound(at(10), Bounds { events: 2, days: 5 });
    assert_eq!(dropped, 3);
    let days: Vec<i64> = kept.profile.events.iter().map(|e| (e.at.0 - at(0).0) / DAY).collect();
    assert_eq!(days, [7, 9]);
}

#[test]
fn damaged_kept_bytes_are_refused() {
    let bytes = Kept::new("c").encode(&InputLimits::default()).unwrap();
    assert!(Kept::decode(&bytes[..bytes.len() - 1]).is_err());
    assert!(Kept::decode(b"nope").is_err());
    assert!(frame_of(&bytes).is_ok());
}
