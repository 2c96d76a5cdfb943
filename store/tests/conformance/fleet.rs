//! What hosts sharing a PostgreSQL store coordinate through it (the
//! embedded store is one host's: it announces nothing and grants every
//! lease and hold).

use std::time::Duration;

use rulehost_model::Timestamp;
use rulehost_store::{Notice, Tenant, TenantLimits};

use crate::backends::Backend;

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        tz_offset_minutes: 0,
        disabled: false,
        limits: TenantLimits::default(),
        created_at: Timestamp(0),
    }
}

#[test]
fn a_change_on_one_host_is_announced_to_another_with_its_counter() {
    let backend = Backend::postgres();
    let (a, b) = (backend.open(), backend.open());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut notices = b.watch().expect("a shared store announces changes");
    // The listener is connected once a first change arrives.
    let next = |notices: &mut tokio::sync::mpsc::UnboundedReceiver<Notice>| {
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), notices.recv()).await })
            .expect("a notice within 5 s")
            .expect("the listener runs")
    };
    std::thread::sleep(Duration::from_millis(300));
    a.create_tenant("operator", &tenant("t")).unwrap();
    assert_eq!(
        next(&mut notices),
        Notice::Changed {
            tenant: "t".into(),
            counter: 1
        }
    );
    a.create_key("operator", "t", "crm").unwrap();
    assert_eq!(
        next(&mut notices),
        Notice::Changed {
            tenant: "t".into(),
            counter: 2
        }
    );
    assert_eq!(b.change_counters().unwrap()["t"], 2);
    let sqlite = Backend::sqlite().open();
    assert!(sqlite.watch().is_none() && !sqlite.shared());
}

#[test]
fn a_lease_is_one_holders_until_it_runs_out() {
    let backend = Backend::postgres();
    let (a, b) = (backend.open(), backend.open());
    assert!(
        a.take_lease("compaction", "host-a", Duration::from_millis(400))
            .unwrap()
    );
    assert!(
        a.take_lease("compaction", "host-a", Duration::from_millis(400))
            .unwrap(),
        "its holder renews it"
    );
    assert!(!b.take_lease("compaction", "host-b", Duration::from_secs(60)).unwrap());
    std::thread::sleep(Duration::from_millis(500));
    assert!(b.take_lease("compaction", "host-b", Duration::from_secs(60)).unwrap());
    assert!(!a.take_lease("compaction", "host-a", Duration::from_secs(60)).unwrap());
}

#[test]
fn a_hold_is_exclusive_across_hosts_and_ends_with_its_guard() {
    let backend = Backend::postgres();
    let (a, b) = (backend.open(), backend.open());
    let held = a.hold("simulation").unwrap().expect("nobody holds it");
    assert!(b.hold("simulation").unwrap().is_none());
    assert!(b.hold("other").unwrap().is_some());
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while b.hold("simulation").unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the hold was never let go");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A host that goes away lets go with its connections.
    let c = backend.open();
    let _held = c.hold("simulation").unwrap().expect("free again");
    drop(c);
}

#[test]
fn each_host_publishes_its_counts_and_reads_the_others() {
    let backend = Backend::postgres();
    let (a, b) = (backend.open(), backend.open());
    a.put_counts("shadow:t:main", "host-a", "{\"n\":1}").unwrap();
    a.put_counts("shadow:t:main", "host-a", "{\"n\":2}").unwrap();
    b.put_counts("shadow:t:main", "host-b", "{\"n\":5}").unwrap();
    assert_eq!(
        b.counts("shadow:t:main", "host-b").unwrap(),
        [("host-a".to_owned(), "{\"n\":2}".to_owned())]
    );
    assert_eq!(
        a.counts("shadow:t:main", "host-a").unwrap(),
        [("host-b".to_owned(), "{\"n\":5}".to_owned())]
    );
    assert!(a.counts("canary:t:main", "host-a").unwrap().is_empty());
}

#[test]
fn logged_decisions_are_compressed_with_lz4_where_the_server_has_it() {
    let backend = Backend::postgres();
    let store = backend.open();
    store.create_tenant("operator", &tenant("t")).unwrap();
    let Backend::Postgres { url, .. } = &backend else {
        unreachable!("a PostgreSQL backend")
    };
    let has_lz4 = rulehost_store::testing::count(
        url,
        "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)",
    ) == 1;
    let body = format!("{{\"padding\": \"{}\"}}", "rulehost ".repeat(2_000));
    let entry = rulehost_store::LoggedDecision {
        tenant_id: "t".into(),
        id: "d1".into(),
        at: Timestamp::now(),
        customer_id: "c".into(),
        body: body.clone(),
    };
    store.log_decisions(&[entry]).unwrap();
    let lz4 = rulehost_store::testing::count(
        url,
        "SELECT count(*) FROM decisions WHERE pg_column_compression(body) = 'lz4'",
    );
    assert_eq!(lz4, i64::from(has_lz4), "the entry's compression");
    let logged: serde_json::Value = serde_json::from_str(&store.logged_decision("t", "d1").unwrap()).unwrap();
    assert_eq!(logged["padding"], body[13..body.len() - 2]);
}

#[test]
fn budgets_counted_before_the_shards_survive_the_upgrade_and_keep_counting() {
    let backend = Backend::postgres();
    let Backend::Postgres { url, .. } = &backend else {
        unreachable!("a PostgreSQL backend")
    };
    let s = backend.open();
    s.create_tenant("operator", &tenant("t")).unwrap();
    drop(s);
    // The table as schema version 4 left it, with 7 touches of `a` counted.
    rulehost_store::testing::execute(
        url,
        "ALTER TABLE offer_budgets DROP CONSTRAINT offer_budgets_pkey;
         ALTER TABLE offer_budgets DROP COLUMN shard;
         ALTER TABLE offer_budgets ADD PRIMARY KEY (tenant_id, offer_id);
         INSERT INTO offer_budgets (tenant_id, offer_id, used) VALUES ('t', 'a', 7);
         ALTER TABLE plugin_versions DROP COLUMN check_fits, DROP COLUMN check_report;
         DELETE FROM rulehost_schema WHERE version >= 5",
    );
    let s = backend.open();
    assert_eq!(s.budgets_used("t").unwrap()["a"], 7, "what was counted is kept");
    let touches: Vec<_> = (0..40)
        .map(|i| crate::cases::touch(&format!("u{i}"), &format!("c{i}"), "a", i))
        .collect();
    assert_eq!(s.record_touches("t", &touches).unwrap(), (40, 0));
    assert_eq!(s.budgets_used("t").unwrap()["a"], 47);
    assert!(
        rulehost_store::testing::count(url, "SELECT count(DISTINCT shard) FROM offer_budgets") > 4,
        "forty customers' touches spread over the shards"
    );
    let ledger = s
        .with_ledger_answer("t", "c1", Timestamp(0), &["a".into()], true, |l| {
            (l.clone(), rulehost_store::Effects::default())
        })
        .unwrap();
    assert_eq!(ledger.budget_used["a"], 47, "a budget reads every shard");
}
