//! What every store promises of kept profiles: events taken once, ids
//! linked into one customer, a committed decision's conclusions, erasure.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use rulehost_model::Timestamp;
use rulehost_model::events::EventIn;
use rulehost_store::prelude::*;
use rulehost_store::{
    Concluded, DeadLetter, Effects, Fold, LoggedDecision, Outgoing, RegistryError, TimerChange, TimerKind,
};

use crate::backends::Backend;
use crate::cases::{page, tenant, touch};

/// Keeps a profile as the sorted ids of the events folded into it, a line
/// each: enough to see what went where.
struct EventIds;

impl Fold for EventIds {
    fn fold(&self, _customer: &str, parts: &[&[u8]], events: &[&EventIn]) -> rulehost_store::Result<Vec<u8>> {
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for part in parts {
            ids.extend(String::from_utf8_lossy(part).lines().map(str::to_owned));
        }
        ids.extend(events.iter().map(|e| e.event_id.clone()));
        Ok(ids.into_iter().collect::<Vec<_>>().join("\n").into_bytes())
    }
}

fn event(id: &str, customer: &str) -> EventIn {
    EventIn {
        event_id: id.into(),
        customer_id: customer.into(),
        kind: "purchase".into(),
        at: Timestamp(1_000),
        channel: None,
        amount_minor: Some(100),
        sku: None,
        category: None,
        props: Default::default(),
    }
}

fn identify(id: &str, customer: &str, linked: &[&str]) -> EventIn {
    let mut e = event(id, customer);
    e.kind = "identify".into();
    e.amount_minor = None;
    e.props = linked
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("id{i}"), Some(rulehost_model::Value::Text((*l).into()))))
        .collect();
    e
}

/// The event ids kept for the customer `id` stands for, and who that is.
fn kept(s: &Arc<dyn Store>, id: &str) -> Option<(String, Vec<String>)> {
    let p = s.stored_profile("t", id).unwrap()?;
    let ids = String::from_utf8(p.kept).unwrap().lines().map(str::to_owned).collect();
    Some((p.customer_id, ids))
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn events_are_taken_once_and_folded_into_their_customers_profile(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let taken = s
        .take_events(
            "t",
            &[
                event("e1", "c1"),
                event("e2", "c1"),
                event("e3", "c2"),
                event("e2", "c1"),
            ],
            &EventIds,
        )
        .unwrap();
    assert_eq!(
        taken
            .iter()
            .map(|t| (t.event_id.as_str(), t.duplicate))
            .collect::<Vec<_>>(),
        [("e1", false), ("e2", false), ("e3", false), ("e2", true)],
        "the second e2 of one batch is a duplicate"
    );
    assert_eq!(kept(&s, "c1"), Some(("c1".into(), ids(&["e1", "e2"]))));
    assert_eq!(kept(&s, "c2"), Some(("c2".into(), ids(&["e3"]))));
    let again = s
        .take_events("t", &[event("e1", "c1"), event("e4", "c1")], &EventIds)
        .unwrap();
    assert!(again[0].duplicate && !again[1].duplicate);
    assert_eq!(kept(&s, "c1"), Some(("c1".into(), ids(&["e1", "e2", "e4"]))));
    assert_eq!(kept(&s, "nobody"), None);
    assert!(matches!(
        s.take_events("missing", &[event("e9", "c")], &EventIds),
        Err(RegistryError::NotFound(_))
    ));
    // Survives a restart.
    drop(s);
    let s = backend.open();
    assert_eq!(kept(&s, "c1"), Some(("c1".into(), ids(&["e1", "e2", "e4"]))));
}

pub fn identify_links_ids_into_one_customer_with_everything_kept_of_them(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.take_events(
        "t",
        &[event("e1", "m-1"), event("e2", "o-1"), event("e3", "138")],
        &EventIds,
    )
    .unwrap();
    s.record_touches("t", &[touch("t1", "o-1", "a", 10), touch("t2", "m-1", "a", 20)])
        .unwrap();
    s.log_decisions(&[LoggedDecision {
        tenant_id: "t".into(),
        id: "d1".into(),
        at: Timestamp(5),
        customer_id: "o-1".into(),
        body: "{}".into(),
    }])
    .unwrap();
    s.with_ledger_answer("t", "o-1", Timestamp(0), &[], true, |_| {
        (
            (),
            Effects {
                timers: vec![TimerChange::Set {
                    kind: TimerKind::Wake,
                    key: "check".into(),
                    due_at: Timestamp(1_000_000),
                    body: String::new(),
                    set_by: "d0".into(),
                }],
                ..Effects::default()
            },
        )
    })
    .unwrap();
    // The unionid becomes the member's: its profile, touches, decisions
    // and timers.
    let taken = s
        .take_events("t", &[identify("i1", "m-1", &["o-1"]), event("e4", "o-1")], &EventIds)
        .unwrap();
    assert_eq!(
        taken[1].customer_id, "m-1",
        "an event for a linked id is the customer's"
    );
    assert_eq!(kept(&s, "o-1"), Some(("m-1".into(), ids(&["e1", "e2", "e4", "i1"]))));
    let record = s.customer("t", "o-1").unwrap().expect("the customer");
    assert_eq!(record.profile.customer_id, "m-1");
    assert_eq!(
        record.aliases.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["o-1"]
    );
    assert_eq!(record.aliases[0].event_id, "i1");
    assert_eq!(
        record.touches.iter().map(|t| t.id.as_str()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["t1", "t2"])
    );
    let decisions = s.logged_decisions("t", Some("m-1"), &page(10, None)).unwrap();
    assert_eq!(decisions.items.len(), 1);
    let timers = s.timers_of("t", "m-1").unwrap();
    assert_eq!((timers.len(), timers[0].customer_id.as_str()), (1, "m-1"));
    // The ledger of a linked id is the customer's.
    let seen = s
        .with_ledger_answer("t", "o-1", Timestamp(0), &[], false, |l| {
            (l.touches.len(), Effects::default())
        })
        .unwrap();
    assert_eq!(seen, 2);
    // Linking the member to a phone's customer, whose id is kept: the
    // whole group moves, and an id linked twice changes nothing.
    s.take_events("t", &[identify("i2", "138", &["m-1", "o-1"])], &EventIds)
        .unwrap();
    for id in ["o-1", "m-1", "138"] {
        assert_eq!(
            kept(&s, id),
            Some(("138".into(), ids(&["e1", "e2", "e3", "e4", "i1", "i2"]))),
            "{id}"
        );
    }
    let aliases: BTreeSet<String> = s
        .customer("t", "138")
        .unwrap()
        .unwrap()
        .aliases
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(aliases, BTreeSet::from(["m-1".into(), "o-1".into()]));
    assert_eq!(s.customer("t", "m-1").unwrap().unwrap().touches.len(), 2);
    // An id linked to nobody before, then sent an event.
    s.take_events("t", &[identify("i3", "o-1", &["p-9"]), event("e5", "p-9")], &EventIds)
        .unwrap();
    assert_eq!(kept(&s, "p-9").map(|(c, ids)| (c, ids.len())), Some(("138".into(), 8)));
}

pub fn a_committed_decision_leaves_its_conclusions_and_stage_changes(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.take_events("t", &[event("e1", "c"), identify("i1", "c", &["alias"])], &EventIds)
        .unwrap();
    let conclude = |decision: &str, at: i64, stage: &str, commit: bool| {
        s.with_ledger_answer("t", "alias", Timestamp(0), &[], commit, |_| {
            (
                (),
                Effects {
                    touches: vec![touch(&format!("{decision}-0"), "alias", "a", at)],
                    concluded: Some(Concluded {
                        findings: format!("findings of {decision}").into_bytes(),
                        stage: Some(stage.into()),
                        decision_id: decision.into(),
                        at: Timestamp(at),
                    }),
                    ..Effects::default()
                },
            )
        })
        .unwrap()
    };
    conclude("d1", 10, "growth", true);
    conclude("d2", 20, "growth", true);
    conclude("dry", 25, "churned", false);
    conclude("d3", 30, "dormancy", true);
    let record = s.customer("t", "c").unwrap().unwrap();
    assert_eq!(record.profile.prior.as_deref(), Some(&b"findings of d3"[..]));
    assert_eq!(
        record
            .stages
            .iter()
            .map(|c| (c.from.as_deref(), c.to.as_str(), c.decision_id.as_str(), c.at.0))
            .collect::<Vec<_>>(),
        [(None, "growth", "d1", 10), (Some("growth"), "dormancy", "d3", 30)]
    );
    assert_eq!(
        record.touches.len(),
        3,
        "touches recorded under the customer, not the alias"
    );
    assert!(record.touches.iter().all(|t| t.customer_id == "c"));
    // A customer with no kept profile: its touches are recorded, nothing else.
    s.with_ledger_answer("t", "stranger", Timestamp(0), &[], true, |_| {
        (
            (),
            Effects {
                touches: vec![touch("s-0", "stranger", "a", 1)],
                concluded: Some(Concluded {
                    findings: b"f".to_vec(),
                    stage: Some("growth".into()),
                    decision_id: "s".into(),
                    at: Timestamp(1),
                }),
                ..Effects::default()
            },
        )
    })
    .unwrap();
    assert_eq!(s.customer("t", "stranger").unwrap(), None);
}

pub fn erasure_removes_the_customer_and_leaves_only_a_pseudonym(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.take_events(
        "t",
        &[event("e1", "c"), identify("i1", "c", &["o-1"]), event("e2", "o-1")],
        &EventIds,
    )
    .unwrap();
    s.take_events("t", &[event("k1", "keep")], &EventIds).unwrap();
    s.record_touches("t", &[touch("t1", "c", "a", 10), touch("t2", "keep", "a", 10)])
        .unwrap();
    s.log_decisions(&[LoggedDecision {
        tenant_id: "t".into(),
        id: "d1".into(),
        at: Timestamp(5),
        customer_id: "c".into(),
        body: r#"{"id":"d1","customer_id":"c","secret":"138-0000"}"#.into(),
    }])
    .unwrap();
    s.with_ledger_answer("t", "c", Timestamp(0), &[], true, |_| {
        (
            (),
            Effects {
                deliveries: vec![Outgoing {
                    touch_id: "d0-0".into(),
                    send_at: Timestamp(0),
                    body: "{}".into(),
                }],
                timers: vec![TimerChange::Set {
                    kind: TimerKind::Wake,
                    key: "check".into(),
                    due_at: Timestamp(1_000_000),
                    body: String::new(),
                    set_by: "d0".into(),
                }],
                ..Effects::default()
            },
        )
    })
    .unwrap();
    let erased = s.erase_customer("key:k", "t", "o-1").unwrap();
    assert_eq!(
        (
            erased.ids,
            erased.events,
            erased.touches,
            erased.decisions,
            erased.pending
        ),
        (2, 3, 1, 1, 2)
    );
    assert!(s.timers_of("t", "c").unwrap().is_empty());
    s.sequence_outbox(10).unwrap();
    assert!(s.outbox("t", 0, 10).unwrap().is_empty());
    assert!(erased.pseudonym.starts_with("erased-"));
    assert_eq!(kept(&s, "c"), None);
    assert_eq!(kept(&s, "o-1"), None);
    assert!(s.customer("t", "c").unwrap().is_none());
    let body = s.logged_decision("t", "d1").unwrap();
    assert!(!body.contains("138-0000") && !body.contains("\"c\""), "{body}");
    assert!(
        s.logged_decisions("t", Some("c"), &page(10, None))
            .unwrap()
            .items
            .is_empty()
    );
    let ledger = s
        .with_ledger_answer("t", "c", Timestamp(0), &[], false, |l| {
            (l.touches.len(), Effects::default())
        })
        .unwrap();
    assert_eq!(ledger, 0, "the ledger no longer knows the customer");
    let audit = s.audit("t", &page(100, None)).unwrap().items;
    let entry = audit.iter().find(|e| e.action == "customer.erase").expect("audited");
    assert_eq!(entry.actor, "key:k");
    let detail = entry.detail.to_string();
    assert!(!detail.contains("o-1") && !detail.contains("\"c\""), "{detail}");
    // Nothing else changed; erasing again finds nothing; the id is new again.
    assert_eq!(kept(&s, "keep"), Some(("keep".into(), ids(&["k1"]))));
    assert!(matches!(
        s.erase_customer("operator", "t", "c"),
        Err(RegistryError::NotFound(_))
    ));
    s.take_events("t", &[event("e9", "o-1")], &EventIds).unwrap();
    assert_eq!(kept(&s, "o-1"), Some(("o-1".into(), ids(&["e9"]))));
}

pub fn events_for_one_customer_taken_at_once_are_all_kept(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for j in 0..5 {
                    s.take_events("t", &[event(&format!("e{i}-{j}"), "c")], &EventIds)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a thread");
    }
    assert_eq!(
        kept(&s, "c").map(|(_, ids)| ids.len()),
        Some(threads * 5),
        "no update was lost"
    );
}

pub fn dead_letters_are_counted_listed_newest_first_and_compacted(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    for (i, tenant) in ["t", "t", "t", "no-such-tenant"].iter().enumerate() {
        s.record_dead_letter(&DeadLetter {
            tenant_id: (*tenant).into(),
            at: Timestamp(1_000 + i as i64),
            subject: format!("rulehost.events.{tenant}"),
            reason: format!("reason {i}"),
            excerpt: "{".into(),
        })
        .unwrap();
    }
    let (count, newest) = s.dead_letters("t", 2).unwrap();
    assert_eq!(count, 3);
    assert_eq!(
        newest.iter().map(|d| d.reason.as_str()).collect::<Vec<_>>(),
        ["reason 2", "reason 1"]
    );
    assert_eq!(
        s.dead_letters("no-such-tenant", 10).unwrap().0,
        1,
        "kept for a tenant that does not exist"
    );
    assert_eq!(s.compact_dead_letters(Timestamp(1_002)).unwrap(), 2);
    assert_eq!(s.dead_letters("t", 10).unwrap().0, 1);
}
