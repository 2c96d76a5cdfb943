// The shapes of the API's answers the console reads (see /openapi.json).

/**
 * @typedef {{ role: "operator" } | { role: "tenant", tenant: string, key: string }} Me
 * @typedef {{ max_plugin_bytes: number, memory_bytes: number, deadline_ms: number, fuel: number, max_concurrent_decisions: number }} Limits
 * @typedef {{ id: string, name: string, tz_offset_minutes: number, disabled: boolean, limits: Limits, created_at: string }} Tenant
 * @typedef {{ id: string, label: string, created_at: string, revoked_at?: string | null }} ApiKey
 * @typedef {ApiKey & { key: string }} IssuedKey
 * @typedef {{ name: string, version: string, sha256: string, size: number, contract: string, sdk?: string | null, created_at: string, fits?: boolean }} PluginVersion
 * @typedef {{ p50: number, p99: number, max: number }} Spread
 * @typedef {{ code: string, count: number, first: string, message: string }} CheckFailures
 * @typedef {{ customer: string, field: string }} Nondeterministic
 * @typedef {{ customers: number, runs: number, limits: { fuel: number, deadline_ms: number, memory_bytes: number }, fuel: Spread, time_us: Spread, memory_bytes: Spread, failures: CheckFailures[], plugin_errors: CheckFailures[], nondeterministic: Nondeterministic[], fits: boolean }} CheckReport
 * @typedef {{ name: string, version: string, sha256: string }} VersionRef
 * @typedef {{ slot: string, active?: VersionRef | null, previous?: VersionRef | null }} Slot
 * @typedef {{ slot: string, name: string, version: string, percent: number, since: string }} Candidate
 * @typedef {{ slots: Slot[], canaries: Candidate[], shadows: Candidate[] }} Pipeline
 * @typedef {{ id: string, at: string, customer_id: string }} DecisionSummary
 * @typedef {{ plugin: string, rule_id: string, reason: string }} Explained
 * @typedef {Explained & { value: string }} StageVerdict
 * @typedef {Explained & { group: string, name: string }} Tag
 * @typedef {Explained & { name: string, value: number }} Score
 * @typedef {Explained & { offer_id: string, channel: string, score: number }} Proposal
 * @typedef {{ offer_id: string, channel: string, plugin: string, rule: string, detail: string }} Suppressed
 * @typedef {{ customer_id: string, stage?: StageVerdict | null, tags: Tag[], scores: Score[], proposals: Proposal[], plugins: VersionRef[], selected?: Proposal[], suppressed?: Suppressed[], wakes?: WakeUp[] }} Decision
 * @typedef {{ id: string, logged_at: string, now: string, customer_id: string, plugins: VersionRef[], decision: Decision, request?: { profile: unknown, trigger?: unknown } | null }} LoggedDecision
 * @typedef {{ path: string, expected?: unknown, actual?: unknown }} Difference
 * @typedef {{ id: number, at: string, actor: string, action: string, tenant_id?: string | null, detail: unknown }} AuditEntry
 * @typedef {{ identical: boolean, differences: Difference[], replayed: VersionRef[] }} Replay
 * @typedef {{ kind: string, at: string, channel?: string | null, amount_minor?: number | null, sku?: string | null, category?: string | null, props?: Record<string, unknown> }} ProfileEvent
 * @typedef {{ customer_id: string, identities: Record<string, string>, attributes: Record<string, unknown>, events: ProfileEvent[], prior: { stage?: string | null, tags: { group: string, name: string }[] } }} Profile
 * @typedef {{ id: string, event_id: string, linked_at: string }} Alias
 * @typedef {{ at: string, from?: string | null, to: string, decision_id: string }} StageChange
 * @typedef {{ id: string, offer_id: string, channel: string, class: string, at: string, decision_id?: string | null }} TouchRecord
 * @typedef {{ kind: "event" | "wake" | "touch", key: string, due_at: string, body: string, set_at: string, set_by: string }} Timer
 * @typedef {{ customer_id: string, ids: Alias[], profile: Profile, updated_at: string, stages: StageChange[], decisions: DecisionSummary[], touches: TouchRecord[], timers: Timer[] }} Customer
 * @typedef {{ at: string, subject: string, reason: string, excerpt: string }} DeadLetter
 * @typedef {{ count: number, items: DeadLetter[] }} DeadLetters
 * @typedef {{ key: string, clear: boolean, at?: string | null, reason?: string | null, plugin: string }} WakeUp
 */

export {};
