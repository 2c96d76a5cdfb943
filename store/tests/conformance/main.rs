//! One conformance suite for every store backend: the same test functions
//! (`cases`) run against the embedded SQLite store and against PostgreSQL.
//!
//! PostgreSQL comes from `RULEHOST_TEST_DATABASE_URL` (the test command,
//! `bash scripts/test`, starts a throwaway cluster and sets it); every
//! case gets a database of its own, dropped afterwards.

mod backends;
mod cases;
mod fleet;
mod profiles;
mod timers;

/// A test per case, for one backend.
macro_rules! conformance {
    ($backend:ident, $open:path) => {
        conformance!(@cases $backend, $open, [
            tenants_are_created_read_paged_and_changed,
            identifiers_are_checked_before_anything_is_stored,
            keys_are_issued_listed_revoked_and_checked,
            versions_are_immutable_and_the_same_bytes_again_change_nothing,
            a_versions_check_is_kept_with_it_and_replaced_by_the_next,
            a_stored_component_comes_back_as_it_was,
            activation_and_rollback_keep_a_history,
            a_version_a_slot_runs_or_tries_out_cannot_be_deleted,
            deleted_versions_leave_the_rollback_history,
            candidates_attach_widen_detach_and_promote,
            documents_are_versioned_and_every_version_stays_readable,
            every_change_is_audited_in_order_and_survives_reopening,
            touches_are_idempotent_and_count_towards_budgets_once,
            a_committing_decision_records_what_it_returns_and_a_dry_run_nothing,
            committing_decisions_for_one_customer_take_turns,
            a_budget_is_spent_at_most_once_by_decisions_at_once,
            the_decision_log_pages_newest_first_and_compaction_keeps_the_newest,
            profile_sets_are_stored_read_replaced_and_deleted,
            past_the_most_sets_a_tenant_may_keep_the_old_sets_stay,
            events_are_taken_once_and_folded_into_their_customers_profile,
            identify_links_ids_into_one_customer_with_everything_kept_of_them,
            a_committed_decision_leaves_its_conclusions_and_stage_changes,
            erasure_removes_the_customer_and_leaves_only_a_pseudonym,
            events_for_one_customer_taken_at_once_are_all_kept,
            a_triggering_event_sets_a_timer_claimed_by_one_host_and_consumed_once,
            a_lease_that_runs_out_lets_another_host_take_the_timer_over,
            due_timers_claimed_by_many_hosts_at_once_go_to_one_each,
            timers_are_replaced_cleared_retried_and_dropped,
            a_deferred_touch_waits_as_a_timer_then_reaches_the_outbox_once,
            the_outbox_is_numbered_in_order_read_after_a_cursor_and_published_once,
            dead_letters_are_counted_listed_newest_first_and_compacted,
        ]);
    };
    (@cases $backend:ident, $open:path, [$($case:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $case() {
                    let backend = $open();
                    crate::cases::$case(&backend);
                }
            )*
        }
    };
}

conformance!(sqlite, crate::backends::Backend::sqlite);
conformance!(postgres, crate::backends::Backend::postgres);
