//! What every store promises of timers and the outbox: a due timer is
//! claimed by one host at a time and consumed once, with what its decision
//! commits; a lease that runs out lets another host take over; the outbox
//! is numbered in the order it becomes visible.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use rulehost_model::Timestamp;
use rulehost_model::events::EventIn;
use rulehost_store::prelude::*;
use rulehost_store::{Effects, Fold, Outgoing, RegistryError, TimerChange, TimerKind};

use crate::backends::Backend;
use crate::cases::{tenant, touch};

/// Keeps nothing but says that `order_unpaid` events start a decision.
struct Unpaid;

impl Fold for Unpaid {
    fn fold(&self, _customer: &str, _parts: &[&[u8]], _events: &[&EventIn]) -> rulehost_store::Result<Vec<u8>> {
        Ok(b"kept".to_vec())
    }

    fn starts(&self, event: &EventIn) -> bool {
        event.kind == "order_unpaid"
    }
}

fn event(id: &str, customer: &str, kind: &str) -> EventIn {
    EventIn {
        event_id: id.into(),
        customer_id: customer.into(),
        kind: kind.into(),
        at: Timestamp::now(),
        channel: None,
        amount_minor: None,
        sku: None,
        category: None,
        props: Default::default(),
    }
}

fn wake(key: &str, due_at: Timestamp) -> TimerChange {
    TimerChange::Set {
        kind: TimerKind::Wake,
        key: key.into(),
        due_at,
        body: format!("check {key}"),
        set_by: "d0".into(),
    }
}

fn later(ms: i64) -> Timestamp {
    Timestamp(Timestamp::now().0 + ms)
}

/// Commits `effects` for `customer` as a decision would.
fn commit(s: &Arc<dyn Store>, customer: &str, effects: Effects) -> rulehost_store::Result<()> {
    s.with_ledger_answer("t", customer, Timestamp(0), &[], true, |_| ((), effects))
}

fn delivery(touch_id: &str, send_at: Timestamp) -> Outgoing {
    Outgoing {
        touch_id: touch_id.into(),
        send_at,
        body: format!("{{\"touch_id\":\"{touch_id}\"}}"),
    }
}

pub fn a_triggering_event_sets_a_timer_claimed_by_one_host_and_consumed_once(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.take_events(
        "t",
        &[event("e1", "c", "view"), event("e2", "c", "order_unpaid")],
        &Unpaid,
    )
    .unwrap();
    // Taken again: no second timer.
    s.take_events("t", &[event("e2", "c", "order_unpaid")], &Unpaid)
        .unwrap();
    let timers = s.timers_of("t", "c").unwrap();
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!((timers[0].kind, timers[0].key.as_str()), (TimerKind::Event, "e2"));
    let body: EventIn = serde_json::from_str(&timers[0].body).expect("the event");
    assert_eq!(body.kind, "order_unpaid");

    let claimed = s.claim_timers(later(10), later(10_000), 10).unwrap();
    assert_eq!(claimed.len(), 1);
    let claim = claimed[0].claim.clone().expect("a claim token");
    assert!(s.claim_timers(later(10), later(10_000), 10).unwrap().is_empty(), "held");

    commit(
        &s,
        "c",
        Effects {
            touches: vec![touch("d1-0", "c", "a", 5)],
            deliveries: vec![delivery("d1-0", Timestamp(0))],
            done: Some(claim.clone()),
            ..Effects::default()
        },
    )
    .unwrap();
    assert!(s.timers_of("t", "c").unwrap().is_empty(), "consumed");
    assert_eq!(s.sequence_outbox(100).unwrap(), 1);
    assert_eq!(s.outbox("t", 0, 10).unwrap()[0].touch_id, "d1-0");

    // The same claim again records nothing.
    let again = commit(
        &s,
        "c",
        Effects {
            touches: vec![touch("d2-0", "c", "a", 6)],
            deliveries: vec![delivery("d2-0", Timestamp(0))],
            done: Some(claim),
            ..Effects::default()
        },
    );
    assert!(matches!(again, Err(RegistryError::Conflict(_))), "{again:?}");
    assert_eq!(s.customer("t", "c").unwrap().unwrap().touches.len(), 1);
    assert_eq!(s.sequence_outbox(100).unwrap(), 0);
}

pub fn a_lease_that_runs_out_lets_another_host_take_the_timer_over(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    commit(
        &s,
        "c",
        Effects {
            timers: vec![wake("dormancy", later(-1))],
            ..Effects::default()
        },
    )
    .unwrap();
    let now = Timestamp::now();
    let first = s.claim_timers(now, Timestamp(now.0 + 50), 10).unwrap();
    assert_eq!(first.len(), 1);
    // Before the lease ends nobody else gets it; after, another host does,
    // under another token, and the first holder can no longer renew it or
    // commit with it.
    assert!(
        s.claim_timers(Timestamp(now.0 + 49), Timestamp(now.0 + 10_000), 10)
            .unwrap()
            .is_empty()
    );
    let second = s
        .claim_timers(Timestamp(now.0 + 51), Timestamp(now.0 + 10_000), 10)
        .unwrap();
    assert_eq!(second.len(), 1);
    let (old, new) = (first[0].claim.clone().unwrap(), second[0].claim.clone().unwrap());
    assert_ne!(old, new);
    assert_eq!(s.renew_claims(std::slice::from_ref(&old), later(20_000)).unwrap(), 0);
    assert_eq!(s.renew_claims(std::slice::from_ref(&new), later(20_000)).unwrap(), 1);
    let stale = commit(
        &s,
        "c",
        Effects {
            done: Some(old),
            ..Effects::default()
        },
    );
    assert!(matches!(stale, Err(RegistryError::Conflict(_))), "{stale:?}");
    commit(
        &s,
        "c",
        Effects {
            done: Some(new),
            ..Effects::default()
        },
    )
    .unwrap();
    assert!(s.timers_of("t", "c").unwrap().is_empty());
}

pub fn due_timers_claimed_by_many_hosts_at_once_go_to_one_each(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    for i in 0..60 {
        commit(
            &s,
            &format!("c{i}"),
            Effects {
                timers: vec![wake("k", later(-1000 + i))],
                ..Effects::default()
            },
        )
        .unwrap();
    }
    let hosts = 6;
    let start = Arc::new(Barrier::new(hosts));
    let handles: Vec<_> = (0..hosts)
        .map(|_| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut mine = Vec::new();
                loop {
                    let claimed = s.claim_timers(Timestamp::now(), later(60_000), 4).unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed.into_iter().map(|t| t.customer_id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().expect("a host"));
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (60, 60), "each timer claimed once");
}

pub fn timers_are_replaced_cleared_retried_and_dropped(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let far = later(3_600_000);
    commit(
        &s,
        "c",
        Effects {
            timers: vec![wake("a", far), wake("b", far)],
            ..Effects::default()
        },
    )
    .unwrap();
    commit(
        &s,
        "c",
        Effects {
            timers: vec![
                wake("a", later(-1)),
                TimerChange::Clear {
                    kind: TimerKind::Wake,
                    key: "b".into(),
                },
            ],
            ..Effects::default()
        },
    )
    .unwrap();
    let timers = s.timers_of("t", "c").unwrap();
    assert_eq!(timers.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["a"]);
    assert!(timers[0].due_at < far, "set again: replaced");
    assert_eq!(s.next_due().unwrap(), Some(timers[0].due_at));
    let claim = s.claim_timers(Timestamp::now(), later(60_000), 10).unwrap()[0]
        .claim
        .clone()
        .unwrap();
    let retry = later(5_000);
    s.release_timer(&claim, Some(retry)).unwrap();
    let timers = s.timers_of("t", "c").unwrap();
    assert_eq!(
        (timers[0].due_at, timers[0].attempts, timers[0].claim.clone()),
        (retry, 1, None)
    );
    assert!(
        s.claim_timers(Timestamp::now(), later(60_000), 10).unwrap().is_empty(),
        "not due yet"
    );
    let claim = s.claim_timers(Timestamp(retry.0 + 1), later(60_000), 10).unwrap()[0]
        .claim
        .clone()
        .unwrap();
    s.release_timer(&claim, None).unwrap();
    assert!(s.timers_of("t", "c").unwrap().is_empty());
    assert_eq!(s.next_due().unwrap(), None);
}

pub fn a_deferred_touch_waits_as_a_timer_then_reaches_the_outbox_once(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let send_at = later(60_000);
    commit(
        &s,
        "c",
        Effects {
            touches: vec![touch("d1-0", "c", "a", send_at.0)],
            deliveries: vec![delivery("d1-0", send_at), delivery("d1-1", Timestamp(0))],
            ..Effects::default()
        },
    )
    .unwrap();
    s.sequence_outbox(100).unwrap();
    let now: Vec<String> = s.outbox("t", 0, 10).unwrap().into_iter().map(|e| e.touch_id).collect();
    assert_eq!(now, ["d1-1"]);
    let waiting = s.timers_of("t", "c").unwrap();
    assert_eq!((waiting[0].kind, waiting[0].key.as_str()), (TimerKind::Touch, "d1-0"));
    let claimed = s.claim_timers(Timestamp(send_at.0 + 1), later(120_000), 10).unwrap();
    let claim = claimed[0].claim.clone().unwrap();
    assert!(s.deliver_deferred(&claim).unwrap());
    assert!(!s.deliver_deferred(&claim).unwrap(), "once");
    s.sequence_outbox(100).unwrap();
    let all: Vec<String> = s.outbox("t", 0, 10).unwrap().into_iter().map(|e| e.touch_id).collect();
    assert_eq!(all, ["d1-1", "d1-0"]);
}

pub fn the_outbox_is_numbered_in_order_read_after_a_cursor_and_published_once(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.create_tenant("operator", &tenant("u")).unwrap();
    for i in 0..5 {
        commit(
            &s,
            "c",
            Effects {
                deliveries: vec![delivery(&format!("t{i}"), Timestamp(0))],
                ..Effects::default()
            },
        )
        .unwrap();
    }
    s.with_ledger_answer("u", "c", Timestamp(0), &[], true, |_| {
        (
            (),
            Effects {
                deliveries: vec![delivery("u0", Timestamp(0))],
                ..Effects::default()
            },
        )
    })
    .unwrap();
    assert_eq!(s.sequence_outbox(3).unwrap(), 3);
    assert_eq!(s.sequence_outbox(100).unwrap(), 3);
    // Committed after the others were numbered: numbered after them.
    commit(
        &s,
        "c",
        Effects {
            deliveries: vec![delivery("t5", Timestamp(0))],
            ..Effects::default()
        },
    )
    .unwrap();
    assert_eq!(s.sequence_outbox(100).unwrap(), 1);
    let page = s.outbox("t", 0, 4).unwrap();
    assert_eq!(
        page.iter().map(|e| e.touch_id.as_str()).collect::<Vec<_>>(),
        ["t0", "t1", "t2", "t3"]
    );
    assert!(page.windows(2).all(|w| w[0].seq < w[1].seq));
    let rest = s.outbox("t", page[3].seq, 10).unwrap();
    assert_eq!(
        rest.iter().map(|e| e.touch_id.as_str()).collect::<Vec<_>>(),
        ["t4", "t5"]
    );
    assert_eq!(s.outbox("u", 0, 10).unwrap().len(), 1);
    // Published in order, once each.
    let unpublished = s.unpublished(100).unwrap();
    assert_eq!(unpublished.len(), 7);
    assert!(unpublished.windows(2).all(|w| w[0].seq < w[1].seq));
    let first: Vec<(String, String)> = unpublished[..4]
        .iter()
        .map(|e| (e.tenant_id.clone(), e.touch_id.clone()))
        .collect();
    s.mark_published(&first).unwrap();
    assert_eq!(s.unpublished(100).unwrap().len(), 3);
    assert_eq!(s.compact_outbox(later(1_000), true).unwrap(), 4, "the published ones");
    assert_eq!(s.compact_outbox(later(1_000), false).unwrap(), 3);
    assert!(s.outbox("t", 0, 10).unwrap().is_empty());
}
