//! The registry's schema, as numbered migrations.
//!
//! `PRAGMA user_version` records how many migrations a database has had;
//! opening a database applies the rest, each in its own transaction. A
//! released migration is never edited: a change is a new entry.

use rusqlite::Connection;

/// The migrations, in order. Entry `i` takes the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tenants, keys, plugins, pipelines, config, offers, audit.
    r#"
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        tz_offset_minutes INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        limits TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        label TEXT NOT NULL,
        secret_sha256 BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, id);

    CREATE TABLE plugin_versions (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        contract TEXT NOT NULL,
        sdk TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name, version)
    ) STRICT;
    CREATE INDEX plugin_versions_by_sha ON plugin_versions(sha256);

    CREATE TABLE pipeline_slots (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        position INTEGER NOT NULL,
        slot TEXT NOT NULL,
        PRIMARY KEY (tenant_id, slot)
    ) STRICT;

    -- Every activation of a slot, oldest first. The slot runs its newest
    -- row that was not rolled back; rolling back marks that row.
    CREATE TABLE activations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        slot TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        activated_at INTEGER NOT NULL,
        rolled_back INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX activations_by_slot ON activations(tenant_id, slot, id);

    CREATE TABLE tenant_config (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, version)
    ) STRICT;

    CREATE TABLE offer_catalogs (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, version)
    ) STRICT;

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_tenant ON audit(tenant_id, id);
    "#,
    // 2: contact policy, the contact ledger, offer budgets, the decision log.
    r#"
    CREATE TABLE policies (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, version)
    ) STRICT;

    -- Deliveries, recorded by the touches API or by committing decisions;
    -- compacted past the longest cap window.
    CREATE TABLE touches (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        offer_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        class TEXT NOT NULL,
        at INTEGER NOT NULL,
        decision_id TEXT,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id)
    ) STRICT;
    CREATE INDEX touches_by_customer ON touches(tenant_id, customer_id, at);
    CREATE INDEX touches_by_time ON touches(tenant_id, at);

    -- Touches per offer over all time, for budgets (never compacted).
    CREATE TABLE offer_budgets (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        offer_id TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, offer_id)
    ) STRICT;

    CREATE TABLE decisions (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL,
        at INTEGER NOT NULL,
        customer_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (tenant_id, id)
    ) STRICT;
    CREATE INDEX decisions_by_customer ON decisions(tenant_id, customer_id, id);
    "#,
    // 3: candidate versions beside a slot's active version, in shadow or
    // as a canary.
    r#"
    CREATE TABLE candidates (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        role TEXT NOT NULL,
        slot TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        percent REAL NOT NULL,
        since INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, role, slot)
    ) STRICT;
    "#,
    // 4: stored profile sets (their bytes are files named by sha256).
    r#"
    CREATE TABLE profile_sets (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        customers INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name)
    ) STRICT;
    "#,
    // 5: profiles kept from events: every event taken in (by id, once),
    // each customer's kept profile (bytes of the host's form) with what
    // its last decision concluded, the ids linked to a customer, and its
    // stage history.
    r#"
    CREATE TABLE intake (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        event_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at INTEGER NOT NULL,
        amount_minor INTEGER,
        taken_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, event_id)
    ) STRICT;
    CREATE INDEX intake_by_customer ON intake(tenant_id, customer_id, at);

    CREATE TABLE profiles (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        customer_id TEXT NOT NULL,
        kept BLOB NOT NULL,
        prior BLOB,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, customer_id)
    ) STRICT;

    CREATE TABLE aliases (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        alias TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        linked_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, alias)
    ) STRICT;
    CREATE INDEX aliases_by_customer ON aliases(tenant_id, customer_id);

    CREATE TABLE stages (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        customer_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        from_stage TEXT,
        to_stage TEXT NOT NULL,
        decision_id TEXT NOT NULL
    ) STRICT;
    CREATE INDEX stages_by_customer ON stages(tenant_id, customer_id, at);
    "#,
    // 6: triggers (a document), timers (a decision due at an instant, for
    // a customer: a triggering event's, a plugin's wake-up, a deferred
    // touch's delivery), and the outbox of touches to deliver.
    r#"
    CREATE TABLE triggers (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, version)
    ) STRICT;

    -- A timer is due at `due_at`; a host that claims it holds it until
    -- `lease_until` (renewed while it works) under the token `claim`.
    CREATE TABLE timers (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        body TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        set_by TEXT NOT NULL,
        claim TEXT,
        lease_until INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, customer_id, kind, key)
    ) STRICT;
    CREATE INDEX timers_by_due ON timers(due_at);
    CREATE INDEX timers_by_claim ON timers(claim) WHERE claim IS NOT NULL;

    -- Touches to deliver: `seq` is given in the order rows are committed
    -- (by one sequencer), the pull feed's cursor; `published_at` when NATS
    -- acknowledged it.
    CREATE TABLE outbox (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        touch_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        seq INTEGER,
        published_at INTEGER,
        PRIMARY KEY (tenant_id, touch_id)
    ) STRICT;
    CREATE UNIQUE INDEX outbox_by_seq ON outbox(seq) WHERE seq IS NOT NULL;
    CREATE INDEX outbox_unsequenced ON outbox(created_at) WHERE seq IS NULL;
    CREATE INDEX outbox_feed ON outbox(tenant_id, seq);
    CREATE INDEX outbox_by_customer ON outbox(tenant_id, customer_id);

    -- Messages of the event stream that could never be taken in (the
    -- tenant may not exist: no reference to it).
    CREATE TABLE dead_letters (
        tenant_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        subject TEXT NOT NULL,
        reason TEXT NOT NULL,
        excerpt TEXT NOT NULL
    ) STRICT;
    CREATE INDEX dead_letters_by_tenant ON dead_letters(tenant_id, at);
    "#,
    // 6: the report of the check run at a version's upload.
    r#"
    ALTER TABLE plugin_versions ADD COLUMN check_fits INTEGER;
    ALTER TABLE plugin_versions ADD COLUMN check_report TEXT;
    "#,
];

/// The schema version this build writes.
pub(crate) const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations the database has not had yet.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if applied > CURRENT {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database has schema version {applied}, newer than this build's {CURRENT}; \
             upgrade rulehost"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
