//! The PostgreSQL schema, as numbered migrations (the same history as the
//! SQLite schema's, in one step, then the fleet's own).
//!
//! `rulehost_schema` records how many migrations a database has had. Hosts
//! starting together migrate one at a time (a transaction-scoped advisory
//! lock), each migration in its own transaction. A released migration is
//! never edited: a change is a new entry.

use deadpool_postgres::Client;

use crate::Result;

/// The key of the advisory lock hosts take to migrate.
const MIGRATION_LOCK: i64 = 0x7275_6c65_686f_7374; // "rulehost"

/// The migrations, in order. Entry `i` takes the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: everything the embedded store keeps, with plugin bytes and
    // profile sets in the database, a change counter per tenant (which
    // every host reconciles against), and the decision log partitioned by
    // day.
    r#"
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        tz_offset_minutes INTEGER NOT NULL,
        disabled BOOLEAN NOT NULL DEFAULT false,
        limits TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        changes BIGINT NOT NULL DEFAULT 0
    );

    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        label TEXT NOT NULL,
        secret_sha256 BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, id);

    -- Component bytes by their sha256, shared by every tenant that uploads
    -- the same bytes.
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        bytes BYTEA NOT NULL
    );

    CREATE TABLE plugin_versions (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        size BIGINT NOT NULL,
        contract TEXT NOT NULL,
        sdk TEXT,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, name, version)
    );

    CREATE TABLE pipeline_slots (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        position INTEGER NOT NULL,
        slot TEXT NOT NULL,
        PRIMARY KEY (tenant_id, slot)
    );

    CREATE TABLE activations (
        id BIGSERIAL PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        slot TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        activated_at BIGINT NOT NULL,
        rolled_back BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX activations_by_slot ON activations(tenant_id, slot, id);

    CREATE TABLE documents (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        kind TEXT NOT NULL,
        version BIGINT NOT NULL,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, kind, version)
    );

    CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        tenant_id TEXT,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_by_tenant ON audit(tenant_id, id);

    CREATE TABLE touches (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        offer_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        class TEXT NOT NULL,
        at BIGINT NOT NULL,
        decision_id TEXT,
        recorded_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, id)
    );
    CREATE INDEX touches_by_customer ON touches(tenant_id, customer_id, at);
    CREATE INDEX touches_by_time ON touches(tenant_id, at);

    CREATE TABLE offer_budgets (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        offer_id TEXT NOT NULL,
        used BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, offer_id)
    );

    -- One partition per UTC day (`decisions_YYYYMMDD`), created as entries
    -- for it arrive; retention drops whole partitions.
    CREATE TABLE decisions (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        at BIGINT NOT NULL,
        customer_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (tenant_id, id, at)
    ) PARTITION BY RANGE (at);
    CREATE INDEX decisions_by_id ON decisions(tenant_id, id);
    CREATE INDEX decisions_by_customer ON decisions(tenant_id, customer_id, id);

    CREATE TABLE candidates (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        role TEXT NOT NULL,
        slot TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        percent DOUBLE PRECISION NOT NULL,
        since BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, role, slot)
    );

    -- A set's bytes are chunks of one upload, named by a number until the
    -- set's row names them; chunks no row names are swept.
    CREATE TABLE profile_set_chunks (
        upload BIGINT NOT NULL,
        seq INTEGER NOT NULL,
        bytes BYTEA NOT NULL,
        written_at BIGINT NOT NULL,
        PRIMARY KEY (upload, seq)
    );
    CREATE SEQUENCE profile_set_uploads;

    -- Work that one host does for a while (compaction): who, and until
    -- when.
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until BIGINT NOT NULL
    );

    -- What each host has counted of a shadow or canary attachment; a
    -- report adds up every host's.
    CREATE TABLE fleet_counts (
        key TEXT NOT NULL,
        host TEXT NOT NULL,
        body TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (key, host)
    );

    CREATE TABLE profile_sets (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        customers BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        upload BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, name)
    );
    "#,
    // 2: logged decisions compressed with lz4 where the server has it: the
    // default (pglz) cost about five times the CPU of the rest of logging
    // an entry (BENCHMARKS.md, section 8). Partitions made from now on
    // inherit it; rows already stored keep their compression.
    r#"
    DO $$
    DECLARE
        part regclass;
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_settings
                   WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
            ALTER TABLE decisions ALTER COLUMN body SET COMPRESSION lz4;
            FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'decisions'::regclass LOOP
                EXECUTE format('ALTER TABLE %s ALTER COLUMN body SET COMPRESSION lz4', part);
            END LOOP;
        END IF;
    END
    $$;
    "#,
    // 3: profiles kept from events: every event taken in (by id, once),
    // each customer's kept profile (bytes of the host's form) with what
    // its last decision concluded, the ids linked to a customer, and its
    // stage history.
    r#"
    CREATE TABLE intake (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        event_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at BIGINT NOT NULL,
        amount_minor BIGINT,
        taken_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, event_id)
    );
    CREATE INDEX intake_by_customer ON intake(tenant_id, customer_id, at);

    CREATE TABLE profiles (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        customer_id TEXT NOT NULL,
        kept BYTEA NOT NULL,
        prior BYTEA,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, customer_id)
    );

    CREATE TABLE aliases (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        alias TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        linked_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, alias)
    );
    CREATE INDEX aliases_by_customer ON aliases(tenant_id, customer_id);

    CREATE TABLE stages (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        customer_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        from_stage TEXT,
        to_stage TEXT NOT NULL,
        decision_id TEXT NOT NULL
    );
    CREATE INDEX stages_by_customer ON stages(tenant_id, customer_id, at);
    "#,
    // 4: timers (a decision due at an instant, for a customer: a
    // triggering event's, a plugin's wake-up, a deferred touch's delivery)
    // and the outbox of touches to deliver (triggers are a kind of
    // document).
    r#"
    -- A timer is due at `due_at`; a host that claims it holds it until
    -- `lease_until` (renewed while it works) under the token `claim`.
    CREATE TABLE timers (
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        set_at BIGINT NOT NULL,
        set_by TEXT NOT NULL,
        claim TEXT,
        lease_until BIGINT,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, customer_id, kind, key)
    );
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
        created_at BIGINT NOT NULL,
        seq BIGINT,
        published_at BIGINT,
        PRIMARY KEY (tenant_id, touch_id)
    );
    CREATE UNIQUE INDEX outbox_by_seq ON outbox(seq) WHERE seq IS NOT NULL;
    CREATE INDEX outbox_unsequenced ON outbox(created_at) WHERE seq IS NULL;
    CREATE INDEX outbox_feed ON outbox(tenant_id, seq);
    CREATE INDEX outbox_by_customer ON outbox(tenant_id, customer_id);

    -- Messages of the event stream that could never be taken in (the
    -- tenant may not exist: no reference to it).
    CREATE TABLE dead_letters (
        tenant_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        subject TEXT NOT NULL,
        reason TEXT NOT NULL,
        excerpt TEXT NOT NULL
    );
    CREATE INDEX dead_letters_by_tenant ON dead_letters(tenant_id, at);
    "#,
    // 5: an offer's touches counted in 16 shards by customer (and a lock
    // row, shard -1, that decisions budgeting the offer hold), so that
    // committing decisions for different customers do not queue on one row
    // per offer. What was counted stays in shard 0.
    r#"
    ALTER TABLE offer_budgets ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
    ALTER TABLE offer_budgets DROP CONSTRAINT offer_budgets_pkey;
    ALTER TABLE offer_budgets ADD PRIMARY KEY (tenant_id, offer_id, shard);
    "#,
    // 6: the report of the check run at a version's upload.
    r#"
    ALTER TABLE plugin_versions ADD COLUMN check_fits BOOLEAN, ADD COLUMN check_report TEXT;
    "#,
];

/// The schema version this build writes.
pub(crate) const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations the database has not had yet, one host at a time.
pub(crate) async fn migrate(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS rulehost_schema (version BIGINT NOT NULL)")
        .await?;
    let applied: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM rulehost_schema", &[])
        .await?
        .get(0);
    if applied > CURRENT {
        return Err(crate::RegistryError::Storage(format!(
            "the database has schema version {applied}, newer than this build's {CURRENT}; upgrade rulehost"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO rulehost_schema (version) VALUES ($1)", &[&(i as i64 + 1)])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
