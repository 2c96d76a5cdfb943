//! What every store promises, written once against the interface.

use std::io::BufRead;
use std::sync::{Arc, Barrier};

use rulehost_model::policy::Policy;
use rulehost_model::{Offer, OfferClass, TenantConfig, Timestamp};
use rulehost_store::prelude::*;
use rulehost_store::{
    Effects, LoggedDecision, PageRequest, PluginVersion, RegistryError, Role, Tenant, TenantChange, TenantLimits,
    TouchRecord,
};
use sha2::{Digest, Sha256};

use crate::backends::Backend;
pub use crate::profiles::*;
pub use crate::timers::*;

/// Effects that record `touches` and nothing else.
pub fn touches(touches: Vec<TouchRecord>) -> Effects {
    Effects {
        touches,
        ..Effects::default()
    }
}

pub fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        tz_offset_minutes: 480,
        disabled: false,
        limits: TenantLimits::default(),
        created_at: Timestamp(0),
    }
}

/// A version of plugin `name` whose bytes are `bytes`.
fn version(name: &str, version: &str, bytes: &[u8]) -> PluginVersion {
    PluginVersion {
        name: name.into(),
        version: version.into(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
        contract: "0.1.0".into(),
        sdk: None,
        created_at: Timestamp(0),
        fits: None,
    }
}

pub fn page(limit: u32, after: Option<String>) -> PageRequest {
    PageRequest {
        after,
        limit: Some(limit),
    }
}

/// A store with tenant `t`, its pipeline `main` running `p` `1`, and `p`
/// versions `2` and `3` uploaded.
fn with_pipeline(backend: &Backend) -> Arc<dyn Store> {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    for v in ["1", "2", "3"] {
        s.put_version("operator", "t", &version("p", v, v.as_bytes()), v.as_bytes())
            .unwrap();
    }
    s.set_pipeline("operator", "t", &["main".into()]).unwrap();
    s.activate("operator", "t", "main", "p", "1").unwrap();
    s
}

pub fn tenants_are_created_read_paged_and_changed(backend: &Backend) {
    let s = backend.open();
    for id in ["e", "a", "c", "b", "d"] {
        let created = s.create_tenant("operator", &tenant(id)).unwrap();
        assert_ne!(created.created_at, Timestamp(0), "the store sets the creation time");
    }
    assert!(matches!(
        s.create_tenant("operator", &tenant("a")),
        Err(RegistryError::Conflict(_))
    ));
    let mut seen = Vec::new();
    let mut next = None;
    loop {
        let got = s.tenants(&page(2, next)).unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.into_iter().map(|t| t.id));
        next = got.next;
        if next.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let change = TenantChange {
        name: Some("Brand A".into()),
        tz_offset_minutes: Some(-300),
        disabled: Some(true),
        limits: Some(TenantLimits {
            fuel: 7,
            ..TenantLimits::default()
        }),
    };
    let changed = s.update_tenant("operator", "a", &change).unwrap();
    assert_eq!(changed, s.tenant("a").unwrap());
    assert_eq!(
        (
            changed.name.as_str(),
            changed.tz_offset_minutes,
            changed.disabled,
            changed.limits.fuel
        ),
        ("Brand A", -300, true, 7)
    );
    assert!(matches!(s.tenant("zz"), Err(RegistryError::NotFound(_))));
    assert!(matches!(
        s.update_tenant("operator", "zz", &TenantChange::default()),
        Err(RegistryError::NotFound(_))
    ));
}

pub fn identifiers_are_checked_before_anything_is_stored(backend: &Backend) {
    let s = backend.open();
    for bad in ["", "Coffee", "-x", "a b", &"x".repeat(65)] {
        assert!(
            matches!(
                s.create_tenant("operator", &tenant(bad)),
                Err(RegistryError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    s.create_tenant("operator", &tenant("t")).unwrap();
    assert!(matches!(
        s.put_version("operator", "t", &version("Bad Name", "1", b"x"), b"x"),
        Err(RegistryError::Invalid(_))
    ));
    assert!(matches!(
        s.put_version("operator", "t", &version("p", "1 2", b"x"), b"x"),
        Err(RegistryError::Invalid(_))
    ));
    for slots in [
        vec!["Main".to_owned()],
        vec!["a".into(), "a".into()],
        vec!["s".into(); 17],
    ] {
        assert!(matches!(
            s.set_pipeline("operator", "t", &slots),
            Err(RegistryError::Invalid(_))
        ));
    }
    assert!(s.versions("t", &PageRequest::default()).unwrap().items.is_empty());
    assert!(s.pipeline("t").unwrap().is_empty());
    assert_eq!(s.tenants(&PageRequest::default()).unwrap().items.len(), 1);
}

pub fn keys_are_issued_listed_revoked_and_checked(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let (issued, whole) = s.create_key("operator", "t", "crm").unwrap();
    assert_eq!(issued.label, "crm");
    let secret = whole
        .strip_prefix(&format!("rh_{}_", issued.id))
        .expect("rh_<id>_<secret>");
    let (demo, _) = s.insert_key("operator", "t", "demo", "demokey", "s3cret").unwrap();
    assert!(matches!(
        s.insert_key("operator", "t", "again", "demokey", "other"),
        Err(RegistryError::Conflict(_))
    ));
    assert!(matches!(
        s.insert_key("operator", "nobody", "x", "k2", "s"),
        Err(RegistryError::NotFound(_))
    ));
    let listed = s.keys("t", &PageRequest::default()).unwrap().items;
    assert_eq!(listed.len(), 2);
    let check = |id: &str| s.key_checks().unwrap().into_iter().find(|k| k.id == id).unwrap();
    let issued_check = check(&issued.id);
    assert_eq!(
        issued_check.secret_sha256,
        <[u8; 32]>::from(Sha256::digest(secret.as_bytes()))
    );
    assert!(!issued_check.revoked);
    s.revoke_key("operator", "t", &demo.id).unwrap();
    s.revoke_key("operator", "t", &demo.id).unwrap();
    assert!(check("demokey").revoked);
    assert!(matches!(
        s.revoke_key("operator", "t", "nokey"),
        Err(RegistryError::NotFound(_))
    ));
}

pub fn versions_are_immutable_and_the_same_bytes_again_change_nothing(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let v1 = version("p", "1", b"abc");
    assert!(s.put_version("operator", "t", &v1, b"abc").unwrap());
    assert!(!s.put_version("operator", "t", &v1, b"abc").unwrap());
    assert!(matches!(
        s.put_version("operator", "t", &version("p", "1", b"xyz"), b"xyz"),
        Err(RegistryError::Conflict(_))
    ));
    assert_eq!(s.version("t", "p", "1").unwrap().sha256, v1.sha256);
    for v in ["2", "3", "10"] {
        s.put_version("operator", "t", &version("p", v, v.as_bytes()), v.as_bytes())
            .unwrap();
    }
    s.put_version("operator", "t", &version("a", "9", b"9"), b"9").unwrap();
    let mut seen = Vec::new();
    let mut next = None;
    loop {
        let got = s.versions("t", &page(2, next)).unwrap();
        seen.extend(got.items.into_iter().map(|v| format!("{}@{}", v.name, v.version)));
        next = got.next;
        if next.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["a@9", "p@1", "p@10", "p@2", "p@3"]);
    assert!(matches!(s.version("t", "p", "4"), Err(RegistryError::NotFound(_))));
}

pub fn a_versions_check_is_kept_with_it_and_replaced_by_the_next(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.put_version("operator", "t", &version("p", "1", b"abc"), b"abc")
        .unwrap();
    s.put_version("operator", "t", &version("p", "2", b"def"), b"def")
        .unwrap();
    assert_eq!(s.version("t", "p", "1").unwrap().fits, None, "not checked yet");
    assert_eq!(s.check_report("t", "p", "1").unwrap(), None);
    s.put_check("t", "p", "1", false, r#"{"fits": false}"#).unwrap();
    assert_eq!(s.version("t", "p", "1").unwrap().fits, Some(false));
    s.put_check("t", "p", "1", true, r#"{"fits": true, "runs": 2}"#)
        .unwrap();
    assert_eq!(s.version("t", "p", "1").unwrap().fits, Some(true));
    assert_eq!(
        s.check_report("t", "p", "1").unwrap().as_deref(),
        Some(r#"{"fits": true, "runs": 2}"#)
    );
    let listed = s.versions("t", &page(10, None)).unwrap().items;
    let fits: Vec<_> = listed.iter().map(|v| (v.version.as_str(), v.fits)).collect();
    assert_eq!(fits, [("1", Some(true)), ("2", None)]);
    assert!(matches!(
        s.put_check("t", "p", "3", true, "{}"),
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(s.check_report("t", "q", "1"), Err(RegistryError::NotFound(_))));
    // Checks survive reopening.
    drop(s);
    let s = backend.open();
    assert_eq!(s.version("t", "p", "1").unwrap().fits, Some(true));
}

pub fn a_stored_component_comes_back_as_it_was(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.create_tenant("operator", &tenant("u")).unwrap();
    let bytes: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let v = version("p", "1", &bytes);
    s.put_version("operator", "t", &v, &bytes).unwrap();
    // Another tenant uploading the same bytes shares them.
    s.put_version("operator", "u", &version("q", "7", &bytes), &bytes)
        .unwrap();
    assert_eq!(s.blob(&v.sha256).unwrap(), bytes);
    assert!(matches!(
        s.blob(&hex::encode(Sha256::digest(b"never stored"))),
        Err(RegistryError::NotFound(_) | RegistryError::Corrupt(_))
    ));
}

pub fn activation_and_rollback_keep_a_history(backend: &Backend) {
    let s = with_pipeline(backend);
    s.activate("operator", "t", "main", "p", "2").unwrap();
    let slots = s.activate("operator", "t", "main", "p", "3").unwrap();
    assert_eq!(slots[0].active.as_ref().unwrap().version, "3");
    assert_eq!(slots[0].previous.as_ref().unwrap().version, "2");
    // Activating what runs changes nothing.
    let audited = s.audit("t", &page(500, None)).unwrap().items.len();
    s.activate("operator", "t", "main", "p", "3").unwrap();
    assert_eq!(s.audit("t", &page(500, None)).unwrap().items.len(), audited);
    let slots = s.rollback("operator", "t", "main").unwrap();
    assert_eq!(slots[0].active.as_ref().unwrap().version, "2");
    let slots = s.rollback("operator", "t", "main").unwrap();
    assert_eq!(slots[0].active.as_ref().unwrap().version, "1");
    assert!(matches!(
        s.rollback("operator", "t", "main"),
        Err(RegistryError::Conflict(_))
    ));
    assert!(matches!(
        s.activate("operator", "t", "other", "p", "1"),
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(
        s.activate("operator", "t", "main", "p", "9"),
        Err(RegistryError::NotFound(_))
    ));
    // A slot that goes away takes its history with it.
    s.set_pipeline("operator", "t", &["first".into(), "main".into()])
        .unwrap();
    assert_eq!(s.pipeline("t").unwrap()[1].active.as_ref().unwrap().version, "1");
    s.set_pipeline("operator", "t", &["first".into()]).unwrap();
    s.set_pipeline("operator", "t", &["first".into(), "main".into()])
        .unwrap();
    assert_eq!(s.pipeline("t").unwrap()[1].active, None);
}

pub fn a_version_a_slot_runs_or_tries_out_cannot_be_deleted(backend: &Backend) {
    let s = with_pipeline(backend);
    assert!(matches!(
        s.delete_version("operator", "t", "p", "1"),
        Err(RegistryError::Conflict(_))
    ));
    s.attach("operator", "t", Role::Shadow, "main", "p", "2", 10.0).unwrap();
    assert!(matches!(
        s.delete_version("operator", "t", "p", "2"),
        Err(RegistryError::Conflict(_))
    ));
    s.delete_version("operator", "t", "p", "3").unwrap();
    assert!(matches!(s.version("t", "p", "3"), Err(RegistryError::NotFound(_))));
    assert!(matches!(
        s.delete_version("operator", "t", "p", "3"),
        Err(RegistryError::NotFound(_))
    ));
}

pub fn deleted_versions_leave_the_rollback_history(backend: &Backend) {
    let s = with_pipeline(backend);
    s.activate("operator", "t", "main", "p", "2").unwrap();
    s.delete_version("operator", "t", "p", "1").unwrap();
    assert_eq!(s.pipeline("t").unwrap()[0].previous, None);
}

pub fn candidates_attach_widen_detach_and_promote(backend: &Backend) {
    let s = with_pipeline(backend);
    for (percent, refused) in [(0.0, "a share of 0"), (100.5, "a share past 100"), (f64::NAN, "NaN")] {
        assert!(
            matches!(
                s.attach("operator", "t", Role::Canary, "main", "p", "2", percent),
                Err(RegistryError::Invalid(_))
            ),
            "{refused}"
        );
    }
    assert!(matches!(
        s.attach("operator", "t", Role::Canary, "main", "p", "1", 10.0),
        Err(RegistryError::Conflict(_))
    ));
    let first = s.attach("operator", "t", Role::Canary, "main", "p", "2", 10.0).unwrap();
    let widened = s.attach("operator", "t", Role::Canary, "main", "p", "2", 50.0).unwrap();
    assert_eq!(widened.since, first.since, "widening keeps when it was attached");
    assert_eq!(widened.percent, 50.0);
    s.attach("operator", "t", Role::Shadow, "main", "p", "3", 20.0).unwrap();
    assert_eq!(s.candidates("t", Role::Canary).unwrap(), vec![widened.clone()]);
    assert_eq!(s.candidate("t", Role::Shadow, "main").unwrap().unwrap().version, "3");
    let slots = s.promote("operator", "t", Role::Canary, "main").unwrap();
    assert_eq!(slots[0].active.as_ref().unwrap().version, "2");
    assert_eq!(slots[0].previous.as_ref().unwrap().version, "1");
    assert_eq!(s.candidate("t", Role::Canary, "main").unwrap(), None);
    let detached = s.detach("operator", "t", Role::Shadow, "main").unwrap();
    assert_eq!(detached.version, "3");
    assert!(matches!(
        s.detach("operator", "t", Role::Shadow, "main"),
        Err(RegistryError::NotFound(_))
    ));
    assert!(matches!(
        s.promote("operator", "t", Role::Shadow, "main"),
        Err(RegistryError::NotFound(_))
    ));
}

pub fn documents_are_versioned_and_every_version_stays_readable(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    assert_eq!(s.config("t").unwrap(), (0, TenantConfig::default()));
    assert_eq!(s.offers("t").unwrap(), (0, Vec::new()));
    assert_eq!(s.policy("t").unwrap(), (0, Policy::default()));
    let config = |v: &str| TenantConfig([("coffee.window_days".to_owned(), v.to_owned())].into());
    assert_eq!(s.put_config("operator", "t", &config("90")).unwrap(), 1);
    assert_eq!(s.put_config("operator", "t", &config("60")).unwrap(), 2);
    let offer: Offer = serde_json::from_str(r#"{"id": "come-back-5", "kind": "win_back_coupon", "channels": ["sms"]}"#)
        .expect("an offer");
    assert_eq!(s.put_offers("operator", "t", std::slice::from_ref(&offer)).unwrap(), 1);
    let policy: Policy = serde_json::from_str(r#"{"global": {"per_day": 2}}"#).expect("a policy");
    assert_eq!(s.put_policy("operator", "t", &policy).unwrap(), 1);
    assert_eq!(s.config("t").unwrap(), (2, config("60")));
    assert_eq!(s.config_at("t", 1).unwrap(), config("90"));
    assert_eq!(s.config_at("t", 0).unwrap(), TenantConfig::default());
    assert_eq!(s.offers_at("t", 1).unwrap(), vec![offer]);
    assert_eq!(s.policy_at("t", 1).unwrap(), policy);
    assert!(matches!(s.config_at("t", 3), Err(RegistryError::NotFound(_))));
    assert!(matches!(
        s.put_config("operator", "nobody", &config("1")),
        Err(RegistryError::NotFound(_))
    ));
}

pub fn every_change_is_audited_in_order_and_survives_reopening(backend: &Backend) {
    {
        let s = backend.open();
        s.create_tenant("operator", &tenant("t")).unwrap();
        s.put_config("key:k1", "t", &TenantConfig([("a".to_owned(), "1".to_owned())].into()))
            .unwrap();
        s.put_offers("key:k1", "t", &[]).unwrap();
    }
    let s = backend.open();
    assert_eq!(s.config("t").unwrap().0, 1);
    let entries = s.audit("t", &page(2, None)).unwrap();
    assert_eq!(entries.items.len(), 2);
    let rest = s.audit("t", &page(2, entries.next)).unwrap();
    assert_eq!(rest.next, None);
    let actions: Vec<_> = entries
        .items
        .into_iter()
        .chain(rest.items)
        .map(|e| (e.actor, e.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("operator".to_owned(), "tenant.create".to_owned()),
            ("key:k1".to_owned(), "config.replace".to_owned()),
            ("key:k1".to_owned(), "offers.replace".to_owned()),
        ]
    );
    assert!(matches!(
        s.audit("t", &page(10, Some("not-a-number".into()))),
        Err(RegistryError::Invalid(_))
    ));
}

pub fn touch(id: &str, customer: &str, offer: &str, at: i64) -> TouchRecord {
    TouchRecord {
        id: id.into(),
        customer_id: customer.into(),
        offer_id: offer.into(),
        channel: "sms".into(),
        class: OfferClass::Marketing,
        at: Timestamp(at),
        decision_id: None,
    }
}

pub fn touches_are_idempotent_and_count_towards_budgets_once(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    assert_eq!(
        s.record_touches("t", &[touch("1", "c", "a", 10), touch("2", "c", "a", 20)])
            .unwrap(),
        (2, 0)
    );
    assert_eq!(
        s.record_touches("t", &[touch("1", "c", "a", 10), touch("3", "c", "b", 30)])
            .unwrap(),
        (1, 1)
    );
    let ledger = s
        .with_ledger_answer("t", "c", Timestamp(15), &["a".into(), "b".into()], false, |l| {
            (l.clone(), Effects::default())
        })
        .unwrap();
    assert_eq!(ledger.touches.len(), 2, "touches before `since` are left out");
    assert_eq!(ledger.budget_used["a"], 2);
    assert_eq!(ledger.budget_used["b"], 1);
    assert_eq!(s.budgets_used("t").unwrap()["a"], 2);
    assert!(matches!(
        s.record_touches("nobody", &[touch("1", "c", "a", 10)]),
        Err(RegistryError::NotFound(_))
    ));
}

pub fn a_committing_decision_records_what_it_returns_and_a_dry_run_nothing(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.with_ledger_answer("t", "c", Timestamp(0), &[], true, |_| {
        ((), touches(vec![touch("d1-0", "c", "a", 5)]))
    })
    .unwrap();
    let seen = s
        .with_ledger_answer("t", "c", Timestamp(0), &[], false, |l| {
            (l.touches.len(), touches(vec![touch("x", "c", "a", 6)]))
        })
        .unwrap();
    assert_eq!(seen, 1);
    let again = s
        .with_ledger_answer("t", "c", Timestamp(0), &[], false, |l| {
            (l.touches.len(), Effects::default())
        })
        .unwrap();
    assert_eq!(again, 1, "the dry run recorded nothing");
}

/// `threads` committing decisions for one customer at once, each sending
/// if nothing was sent yet (a cap of one): the ledger answers how many
/// sent.
fn decide_at_once(s: &Arc<dyn Store>, threads: usize, customer: &dyn Fn(usize) -> String, budget: bool) -> usize {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (s, start, customer) = (s.clone(), start.clone(), customer(i));
            std::thread::spawn(move || {
                start.wait();
                let budgets: Vec<String> = if budget { vec!["a".into()] } else { Vec::new() };
                s.with_ledger_answer("t", &customer, Timestamp(0), &budgets, true, |ledger| {
                    let room = if budget {
                        ledger.budget_used.get("a").copied().unwrap_or(0) == 0
                    } else {
                        ledger.touches.is_empty()
                    };
                    let sent = if room {
                        vec![touch(&format!("d{i}"), &customer, "a", 100)]
                    } else {
                        Vec::new()
                    };
                    (sent.len(), touches(sent))
                })
                .unwrap()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("a decision")).sum()
}

pub fn committing_decisions_for_one_customer_take_turns(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    assert_eq!(decide_at_once(&s, 16, &|_| "c".into(), false), 1, "a cap of one holds");
    // Different customers do not wait for each other's touches.
    assert_eq!(decide_at_once(&s, 8, &|i| format!("other-{i}"), false), 8);
}

pub fn a_budget_is_spent_at_most_once_by_decisions_at_once(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    // A budget of one, over all customers: one of them gets it.
    assert_eq!(decide_at_once(&s, 12, &|i| format!("c{i}"), true), 1);
    assert_eq!(s.budgets_used("t").unwrap()["a"], 1);
}

pub fn the_decision_log_pages_newest_first_and_compaction_keeps_the_newest(backend: &Backend) {
    const DAY: i64 = 86_400_000;
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    s.record_touches("t", &[touch("old", "c", "a", 10), touch("new", "c", "a", 100 * DAY)])
        .unwrap();
    // Five decisions a day apart, then one for another customer.
    let mut entries: Vec<LoggedDecision> = (0..5)
        .map(|i| LoggedDecision {
            tenant_id: "t".into(),
            id: format!("d{i}"),
            at: Timestamp(i * DAY + 1),
            customer_id: "c".into(),
            body: format!("{{\"n\": {i}}}"),
        })
        .collect();
    entries.push(LoggedDecision {
        tenant_id: "t".into(),
        id: "d5".into(),
        at: Timestamp(4 * DAY + 2),
        customer_id: "other".into(),
        body: "{}".into(),
    });
    s.log_decisions(&entries).unwrap();
    s.log_decisions(&[]).unwrap();
    // The text stored, byte for byte.
    assert_eq!(s.logged_decision("t", "d2").unwrap(), "{\"n\": 2}");
    assert!(matches!(s.logged_decision("t", "zz"), Err(RegistryError::NotFound(_))));
    let first = s.logged_decisions("t", Some("c"), &page(3, None)).unwrap();
    assert_eq!(
        first.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d4", "d3", "d2"]
    );
    let rest = s.logged_decisions("t", Some("c"), &page(3, first.next)).unwrap();
    assert_eq!(
        rest.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d1", "d0"]
    );
    assert_eq!(s.logged_decisions("t", None, &page(10, None)).unwrap().items.len(), 6);
    // Touches before day 50 go; decisions older than two whole days go (a
    // store may keep what is within the cut's day), then all but the four
    // newest.
    let (touches, decisions) = s.compact("t", Timestamp(50 * DAY), Timestamp(2 * DAY), 3).unwrap();
    assert_eq!(touches, 1);
    assert!(decisions >= 3, "{decisions}");
    let left: Vec<String> = s
        .logged_decisions("t", None, &page(10, None))
        .unwrap()
        .items
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left, ["d5", "d4", "d3"]);
}

fn store_set(
    s: &Arc<dyn Store>,
    name: &str,
    lines: &[&str],
    max_sets: u64,
) -> rulehost_store::Result<rulehost_store::ProfileSet> {
    let mut staged = s.stage_profile_set("test", "t", name, max_sets)?;
    for line in lines {
        staged.push(line).unwrap();
    }
    staged.commit()
}

fn read_set(s: &Arc<dyn Store>, name: &str) -> std::io::Result<String> {
    let (_, reader) = s.open_profile_set("t", name).unwrap();
    let mut text = String::new();
    for line in reader.lines() {
        text.push_str(&line?);
        text.push('\n');
    }
    Ok(text)
}

pub fn profile_sets_are_stored_read_replaced_and_deleted(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let set = store_set(&s, "march", &["{\"customer_id\":\"a\"}", "{\"customer_id\":\"b\"}"], 5).unwrap();
    let text = "{\"customer_id\":\"a\"}\n{\"customer_id\":\"b\"}\n";
    assert_eq!((set.customers, set.bytes), (2, text.len() as u64));
    assert_eq!(set.sha256, hex::encode(Sha256::digest(text)));
    assert_eq!(read_set(&s, "march").unwrap(), text);
    assert_eq!(s.profile_sets("t").unwrap(), vec![set]);
    // A set larger than a chunk of any backend comes back whole.
    let big_line = format!("{{\"customer_id\":\"{}\"}}", "x".repeat(4000));
    let lines: Vec<&str> = std::iter::repeat_n(big_line.as_str(), 600).collect();
    let big = store_set(&s, "big", &lines, 5).unwrap();
    let read = read_set(&s, "big").unwrap();
    assert_eq!(
        (read.len() as u64, hex::encode(Sha256::digest(&read))),
        (big.bytes, big.sha256)
    );
    let replaced = store_set(&s, "march", &["{\"customer_id\":\"c\"}"], 5).unwrap();
    assert_eq!(read_set(&s, "march").unwrap(), "{\"customer_id\":\"c\"}\n");
    assert_eq!(s.profile_sets("t").unwrap()[1], replaced);
    s.delete_profile_set("test", "t", "march").unwrap();
    assert_eq!(s.profile_sets("t").unwrap().len(), 1);
    assert!(matches!(
        s.delete_profile_set("test", "t", "march"),
        Err(RegistryError::NotFound(_))
    ));
    assert!(s.stage_profile_set("test", "t", "Bad Name", 5).is_err());
    assert!(matches!(
        s.stage_profile_set("test", "nobody", "march", 5).map(|_| ()),
        Err(RegistryError::NotFound(_))
    ));
}

pub fn past_the_most_sets_a_tenant_may_keep_the_old_sets_stay(backend: &Backend) {
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    let kept = store_set(&s, "one", &["{\"customer_id\":\"a\"}"], 1).unwrap();
    let refused = store_set(&s, "two", &["{\"customer_id\":\"b\"}"], 1);
    assert!(matches!(refused, Err(RegistryError::Conflict(_))), "{refused:?}");
    // Replacing the one set there is, is not one more.
    let replaced = store_set(&s, "one", &["{\"customer_id\":\"c\"}"], 1).unwrap();
    assert_eq!(s.profile_sets("t").unwrap(), vec![replaced]);
    assert_ne!(kept.sha256, s.profile_sets("t").unwrap()[0].sha256);
}
