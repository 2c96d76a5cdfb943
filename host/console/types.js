// The shapes of the API's answers the console reads (see /openapi.json).

/**
 * @typedef {{ role: "operator" } | { role: "tenant", tenant: string, key: string }} Me
 * @typedef {{ max_plugin_bytes: number, memory_bytes: number, deadline_ms: number, fuel: number, max_concurrent_decisions: number }} Limits
 * @typedef {{ id: string, name: string, tz_offset_minutes: number, disabled: boolean, limits: Limits, created_at: string }} Tenant
 * @typedef {{ id: string, label: string, created_at: string, revoked_at?: string | null }} ApiKey
 * @typedef {ApiKey & { key: string }} IssuedKey
 * @typedef {{ name: string, version: string, sha256: string, size: number, contract: string, sdk?: string | null, created_at: string }} PluginVersion
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
 * @typedef {{ customer_id: string, stage?: StageVerdict | null, tags: Tag[], scores: Score[], proposals: Proposal[], plugins: VersionRef[], selected?: Proposal[], suppressed?: Suppressed[] }} Decision
 * @typedef {{ id: string, logged_at: string, now: string, customer_id: string, plugins: VersionRef[], decision: Decision, request?: { profile: unknown, trigger?: unknown } | null }} LoggedDecision
 * @typedef {{ path: string, expected?: unknown, actual?: unknown }} Difference
 * @typedef {{ id: number, at: string, actor: string, action: string, tenant_id?: string | null, detail: unknown }} AuditEntry
 * @typedef {{ identical: boolean, differences: Difference[], replayed: VersionRef[] }} Replay
 */

export {};
