// The console: sign-in, then the operator's pages (tenants, keys, health)
// or a tenant's (pipeline, versions, decisions), routed by the URL's hash.

import { call, enc, setToken, token } from "./api.js";
import { lang, named, setLang, t, tagName } from "./i18n.js";
import { documentEditor } from "./editor.js";
import { reportView } from "./report.js";
import { act, button, field, fill, h, paged, problem, table, time, value } from "./ui.js";

/** @typedef {import("./types.js").Me} Me @typedef {import("./types.js").Tenant} Tenant @typedef {import("./types.js").ApiKey} ApiKey */
/** @typedef {import("./types.js").PluginVersion} PluginVersion @typedef {import("./types.js").CheckReport} CheckReport @typedef {import("./types.js").Pipeline} Pipeline @typedef {import("./types.js").Slot} Slot */
/** @typedef {import("./types.js").DecisionSummary} DecisionSummary @typedef {import("./types.js").LoggedDecision} LoggedDecision */
/** @typedef {import("./types.js").Decision} Decision @typedef {import("./types.js").Explained} Explained @typedef {import("./types.js").Replay} Replay */
/** @typedef {import("./types.js").Customer} Customer @typedef {import("./types.js").DeadLetters} DeadLetters */

/** Who is signed in, once known. @type {Me | null} */
let me = null;

const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
const who = /** @type {HTMLElement} */ (document.getElementById("who"));
const langButton = /** @type {HTMLButtonElement} */ (document.getElementById("lang"));

/** The hash's path segments, decoded. */
function route() {
  return location.hash.replace(/^#\/?/, "").split("/").filter((s) => s !== "").map(decodeURIComponent);
}

/** @param {string[]} segments */
function link(...segments) {
  return `#/${segments.map(enc).join("/")}`;
}

async function render() {
  setLang(lang());
  document.title = t("app.title");
  fill(langButton, t("lang.switch"));
  if (token() === null) {
    me = null;
    signIn();
    return;
  }
  if (me === null) {
    try {
      me = /** @type {Me} */ (await call("GET", "/v1/me"));
    } catch (e) {
      setToken(null);
      signIn(problem(e));
      return;
    }
  }
  const [first = "", second = "", third = "", fourth = ""] = route();
  const home = me.role === "operator" ? link("tenants") : link("t", me.tenant, "pipeline");
  const page = pageOf(first, second, third, fourth);
  if (page === undefined) {
    location.replace(home);
    return;
  }
  renderChrome(me, first === "t" ? second : undefined);
  main.focus();
  await page();
}

/**
 * The page a route shows, if it is one.
 * @param {string} first
 * @param {string} second
 * @param {string} third
 * @param {string} fourth
 * @returns {(() => void | Promise<void>) | undefined}
 */
function pageOf(first, second, third, fourth) {
  if (first === "tenants" && second === "") return tenants;
  if (first === "tenants") return () => tenantAdmin(second);
  if (first === "health") return health;
  if (first !== "t" || second === "") return undefined;
  if (third === "pipeline") return () => pipeline(second);
  if (third === "versions") return () => versions(second);
  if (third === "decisions" && fourth === "") return () => { decisions(second); };
  if (third === "decisions") return () => decision(second, fourth);
  if (third === "customers" && fourth === "") return () => customers(second);
  if (third === "customers") return () => customer(second, fourth);
  if (third === "simulate") return () => simulate(second);
  if (third === "config") return () => { config(second); };
  if (third === "audit") return () => { audit(second); };
  return undefined;
}

/** The chapter of the book (served at /book/) that explains each page. */
const HELP = {
  tenants: "running/server.md",
  health: "running/server.md",
  pipeline: "decisions/before-live.md",
  versions: "plugins/check.md",
  decisions: "decisions/pipeline.md",
  customers: "running/events.md",
  simulate: "decisions/before-live.md",
  config: "reference/json.md",
  audit: "running/console.md",
};

/**
 * The help link of the page open now: its chapter of the book.
 * @returns {string}
 */
function helpLink() {
  const segments = route();
  const page = segments[0] === "t" ? segments[2] : segments[0];
  const chapter = page !== undefined && page in HELP ? HELP[/** @type {keyof typeof HELP} */ (page)] : "running/console.md";
  return `/book/${chapter}`;
}

/**
 * The header: who is signed in and the pages they may open.
 * @param {Me} caller
 * @param {string | undefined} tenant  the tenant whose pages are open
 */
function renderChrome(caller, tenant) {
  const here = location.hash;
  /** @param {string} href @param {string} label */
  const item = (href, label) => h("a", { href, "aria-current": here.startsWith(href) ? "page" : undefined }, label);
  /** @type {HTMLElement[]} */
  const links = [];
  if (caller.role === "operator") links.push(item(link("tenants"), t("nav.tenants")), item(link("health"), t("nav.health")));
  const own = caller.role === "tenant" ? caller.tenant : tenant;
  if (own !== undefined && own !== "") {
    links.push(
      item(link("t", own, "pipeline"), t("nav.pipeline")),
      item(link("t", own, "versions"), t("nav.versions")),
      item(link("t", own, "decisions"), t("nav.decisions")),
      item(link("t", own, "customers"), t("nav.customers")),
      item(link("t", own, "simulate"), t("nav.simulate")),
      item(link("t", own, "config"), t("nav.config")),
      item(link("t", own, "audit"), t("nav.audit")),
    );
  }
  fill(nav, links);
  fill(
    who,
    caller.role === "operator" ? t("signin.as.operator") : t("signin.as.tenant", { tenant: caller.tenant, key: caller.key }),
    " ",
    h("a", { href: helpLink(), target: "_blank", rel: "noopener", class: "help" }, t("nav.help")),
    " ",
    h("button", { type: "button", class: "secondary", onclick: signOut }, t("signin.out")),
  );
}

function signOut() {
  setToken(null);
  me = null;
  location.hash = "#/signin";
  void render();
}

/** @param {HTMLElement} [note] */
function signIn(note) {
  fill(nav);
  fill(who);
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "card signin" },
      h("p", { class: "muted" }, t("signin.help")),
      field(t("signin.token"), { name: "token", type: "password", required: true, autocomplete: "off", autofocus: true }),
      h("button", { type: "submit" }, t("signin.submit")),
    )
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setToken(value(form, "token").trim());
    me = null;
    location.hash = "#/";
    void render();
  });
  fill(main, h("h1", {}, t("signin.title")), note, form);
  form.querySelector("input")?.focus();
}

// ---- the operator's pages ----

function tenants() {
  const out = h("div");
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "inline" },
      field(t("tenants.id"), { name: "id", required: true, pattern: "[a-z0-9][a-z0-9\\-]{0,63}" }),
      field(t("tenants.name"), { name: "name" }),
      field(t("tenants.tz"), { name: "tz", type: "number", value: "480", min: "-1080", max: "1080" }),
      h("button", { type: "submit" }, t("tenants.create")),
    )
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void act(out, async () => {
      const id = value(form, "id");
      const name = value(form, "name");
      await call("POST", "/v1/tenants", {
        body: { id, ...(name === "" ? {} : { name }), tz_offset_minutes: Number(value(form, "tz")) },
      });
      location.hash = link("tenants", id);
    });
  });
  /** @param {Tenant[]} items */
  const list = (items) =>
    table([t("tenants.id"), t("tenants.name"), t("tenants.tz"), t("tenants.state"), ""], items, (tenant) => [
      h("a", { href: link("tenants", tenant.id) }, tenant.id),
      tenant.name,
      tenant.tz_offset_minutes,
      h("span", { class: `pill ${tenant.disabled ? "bad" : "good"}` }, t(tenant.disabled ? "tenants.disabled" : "tenants.enabled")),
      h("a", { href: link("t", tenant.id, "pipeline") }, t("nav.pipeline")),
    ]);
  fill(main, h("h1", {}, t("tenants.title")), h("section", { class: "card" }, form, out), paged("/v1/tenants", list));
}

/** @param {string} id */
async function tenantAdmin(id) {
  fill(main, h("h1", {}, id), t("common.loading"));
  /** @type {Tenant} */
  let tenant;
  try {
    tenant = /** @type {Tenant} */ (await call("GET", `/v1/tenants/${enc(id)}`));
  } catch (e) {
    fill(main, h("h1", {}, id), problem(e));
    return;
  }
  const out = h("div");
  const names = /** @type {const} */ (["max_plugin_bytes", "memory_bytes", "deadline_ms", "fuel", "max_concurrent_decisions"]);
  const limits = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "inline" },
      names.map((n) => field(t(`limits.${n}`), { name: n, type: "number", min: "1", value: String(tenant.limits[n]) })),
      h("button", { type: "submit" }, t("tenant.limits.save")),
    )
  );
  limits.addEventListener("submit", (e) => {
    e.preventDefault();
    void act(out, async () => {
      /** @type {Record<string, number>} */
      const change = {};
      for (const n of names) change[n] = Number(value(limits, n));
      await call("PATCH", `/v1/tenants/${enc(id)}`, { body: { limits: change } });
      fill(out, h("p", { class: "ok", role: "status" }, t("common.done")));
    });
  });
  const toggle = button(out, t(tenant.disabled ? "tenants.enable" : "tenants.disable"), tenant.disabled ? "secondary" : "danger", async () => {
    await call("PATCH", `/v1/tenants/${enc(id)}`, { body: { disabled: !tenant.disabled } });
    await tenantAdmin(id);
  });
  const issued = h("div");
  const issue = /** @type {HTMLFormElement} */ (
    h("form", { class: "inline" }, field(t("keys.label"), { name: "label" }), h("button", { type: "submit" }, t("keys.issue")))
  );
  const keys = h("div");
  const listKeys = () =>
    fill(
      keys,
      paged(`/v1/tenants/${enc(id)}/keys`, (/** @type {ApiKey[]} */ items) =>
        table([t("keys.id"), t("keys.label"), t("keys.created"), t("keys.revoked"), ""], items, (key) => [
          h("code", {}, key.id),
          key.label,
          time(key.created_at),
          key.revoked_at ? time(key.revoked_at) : "",
          key.revoked_at
            ? ""
            : button(issued, t("keys.revoke"), "danger", async () => {
                if (!confirm(t("keys.confirmRevoke", { key: key.id }))) return;
                await call("DELETE", `/v1/tenants/${enc(id)}/keys/${enc(key.id)}`);
                listKeys();
              }),
        ]),
      ),
    );
  issue.addEventListener("submit", (e) => {
    e.preventDefault();
    void act(issued, async () => {
      const key = /** @type {import("./types.js").IssuedKey} */ (
        await call("POST", `/v1/tenants/${enc(id)}/keys`, { body: { label: value(issue, "label") } })
      );
      fill(issued, h("p", {}, t("keys.issued")), h("p", { class: "secret", "data-testid": "issued-key" }, key.key));
      listKeys();
    });
  });
  listKeys();
  fill(
    main,
    h("h1", {}, `${tenant.name} (${tenant.id})`),
    h(
      "p",
      {},
      h("span", { class: `pill ${tenant.disabled ? "bad" : "good"}` }, t(tenant.disabled ? "tenants.disabled" : "tenants.enabled")),
      " ",
      toggle,
      " ",
      h("a", { href: link("t", id, "pipeline") }, t("nav.pipeline")),
    ),
    out,
    h("section", { class: "card" }, h("h2", {}, t("tenant.limits")), limits),
    h("section", { class: "card" }, h("h2", {}, t("keys.title")), issue, issued, keys),
  );
}

/** The readings of the last refresh, to turn counters into rates. */
/** @type {{ at: number, decisions: Map<string, number> } | null} */
let lastReading = null;
/** @type {number | undefined} */
let healthTimer;

async function health() {
  const ready = h("p", {}, t("common.loading"));
  const body = h("div");
  fill(main, h("h1", {}, t("health.title")), h("section", { class: "card" }, h("h2", {}, t("health.ready")), ready), body, h("p", { class: "muted" }, t("health.refresh")));
  const refresh = async () => {
    if (!location.hash.startsWith(link("health"))) return;
    try {
      const state = await fetch("/readyz").then(async (r) => ({ ok: r.ok, text: await r.text() }));
      fill(ready, h("span", { class: `pill ${state.ok ? "good" : "bad"}` }, state.ok ? "ready" : "not ready"), " ", state.ok ? "" : state.text);
      const text = /** @type {string} */ (await call("GET", "/metrics", { as: "text" }));
      fill(body, metricsView(text));
    } catch (e) {
      fill(body, problem(e));
    }
    window.clearTimeout(healthTimer);
    healthTimer = window.setTimeout(() => void refresh(), 5000);
  };
  await refresh();
}

/**
 * The server's figures from its OpenMetrics text: lanes and decisions in
 * flight, and per tenant the decisions, their rate and the errors.
 * @param {string} text
 */
function metricsView(text) {
  /** @type {Map<string, { decisions: number, errors: number }>} */
  const rows = new Map();
  /** @type {Record<string, number>} */
  const server = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+)(?:\{([^}]*)\})? ([0-9.eE+-]+)$/.exec(line);
    if (m === null) continue;
    const [, name = "", labels = "", raw = "0"] = m;
    const n = Number(raw);
    const tenant = /tenant="([^"]*)"/.exec(labels)?.[1];
    if (tenant === undefined) {
      server[name] = n;
      continue;
    }
    if (name !== "rulehost_decisions_total") continue;
    const row = rows.get(tenant) ?? { decisions: 0, errors: 0 };
    rows.set(tenant, row);
    row.decisions += n;
    if (/outcome="([^"]*)"/.exec(labels)?.[1] !== "ok") row.errors += n;
  }
  const now = Date.now();
  const previous = lastReading;
  lastReading = { at: now, decisions: new Map([...rows].map(([k, v]) => [k, v.decisions])) };
  /** @param {string} tenant @param {number} total */
  const rate = (tenant, total) => {
    const before = previous?.decisions.get(tenant);
    if (previous === null || now <= previous.at) return "–";
    return ((total - (before ?? 0)) / ((now - previous.at) / 1000)).toFixed(1);
  };
  return h(
    "section",
    { class: "card", "data-testid": "metrics" },
    h(
      "p",
      {},
      `${t("health.lanes")}: ${server["rulehost_lanes_in_use"] ?? 0} · ${t("health.waiting")}: ${server["rulehost_lanes_waiting"] ?? 0} · ${t("health.inflight")}: ${server["rulehost_decisions_in_flight"] ?? 0}`,
    ),
    table(
      [t("health.tenant"), t("health.decisions"), t("health.rate"), t("health.errors")],
      [...rows].sort(([a], [b]) => a.localeCompare(b)),
      ([tenant, r]) => [tenant, r.decisions, rate(tenant, r.decisions), r.errors],
    ),
  );
}

// ---- a tenant's pages ----

/** @param {string} tenant */
async function pipeline(tenant) {
  const out = h("div");
  fill(main, h("h1", {}, `${t("pipeline.title")} · ${tenant}`), out, t("common.loading"));
  /** @type {Pipeline} */
  let current;
  try {
    current = /** @type {Pipeline} */ (await call("GET", `/v1/tenants/${enc(tenant)}/pipeline`));
  } catch (e) {
    fill(main, h("h1", {}, t("pipeline.title")), problem(e));
    return;
  }
  const slots = current.slots;
  /** @param {import("./types.js").Candidate[]} attached @param {string} slot */
  const candidate = (attached, slot) => {
    const c = attached.find((x) => x.slot === slot);
    return c === undefined ? "–" : `${c.name} ${c.version} (${c.percent}%)`;
  };
  const rows = slots.map((s) => ({ ...s, canary: candidate(current.canaries, s.slot), shadow: candidate(current.shadows, s.slot) }));
  const view = table(
    [t("pipeline.slot"), t("pipeline.active"), t("pipeline.canary"), t("pipeline.shadow"), ""],
    rows,
    (s) => [
      h("strong", {}, s.slot),
      s.active ? `${s.active.name} ${s.active.version}` : "–",
      s.canary,
      s.shadow,
      s.previous
        ? button(out, `${t("pipeline.rollback")} → ${s.previous.name} ${s.previous.version}`, "secondary", async () => {
            await call("POST", `/v1/tenants/${enc(tenant)}/pipeline/${enc(s.slot)}/rollback`, { body: {} });
            await pipeline(tenant);
          })
        : "",
    ],
  );
  fill(
    main,
    h("h1", {}, `${t("pipeline.title")} · ${tenant}`),
    out,
    slots.length === 0 ? h("p", { class: "empty" }, t("pipeline.empty")) : view,
    ...(await candidateReports(tenant, current, out)),
  );
}

/**
 * A version's check at upload: whether it fits, and the report on demand.
 * @param {string} tenant
 * @param {PluginVersion} p
 */
function checkCell(tenant, p) {
  if (p.fits === undefined) return h("span", { class: "muted" }, t("check.none"));
  const body = h("div");
  const details = h(
    "details",
    { class: "check" },
    h("summary", { class: p.fits ? "ok" : "bad" }, p.fits ? t("check.fits") : t("check.unfit")),
    body,
  );
  details.addEventListener(
    "toggle",
    () =>
      void act(body, async () => {
        const r = /** @type {CheckReport} */ (await call("GET", `/v1/tenants/${enc(tenant)}/plugins/${enc(p.name)}/${enc(p.version)}/check`));
        const ms = (/** @type {number} */ us) => (us / 1000).toFixed(2);
        const mib = (/** @type {number} */ b) => (b / 1048576).toFixed(1);
        fill(
          body,
          h("p", {}, t("check.ran", { customers: r.customers, runs: r.runs })),
          table(
            ["", "p50", "p99", "max", t("check.limit")],
            [
              [t("check.fuel"), r.fuel.p50, r.fuel.p99, r.fuel.max, r.limits.fuel],
              [t("check.timeMs"), ms(r.time_us.p50), ms(r.time_us.p99), ms(r.time_us.max), r.limits.deadline_ms],
              [t("check.memoryMib"), mib(r.memory_bytes.p50), mib(r.memory_bytes.p99), mib(r.memory_bytes.max), mib(r.limits.memory_bytes)],
            ],
            (row) => row.map(String),
          ),
          ...r.failures.map((f) => h("p", { class: "bad" }, t("check.failed", { count: f.count, code: f.code, first: f.first, message: f.message }))),
          ...r.plugin_errors.map((f) => h("p", {}, t("check.ownError", { count: f.count, code: f.code, first: f.first }))),
          ...r.nondeterministic.map((n) => h("p", { class: "bad" }, t("check.unsteady", { customer: n.customer, field: n.field }))),
        );
      }),
    { once: true },
  );
  return details;
}

/** @param {string} tenant */
async function versions(tenant) {
  const out = h("div", { "aria-live": "polite" });
  const progress = h("div");
  const input = /** @type {HTMLInputElement} */ (h("input", { type: "file", accept: ".wasm,application/wasm", id: "upload-file" }));
  const versionInput = /** @type {HTMLInputElement} */ (h("input", { name: "version", id: "upload-version" }));
  const drop = h(
    "div",
    { class: "drop", tabindex: "0", role: "button", "aria-label": t("versions.drop") },
    h("p", {}, t("versions.drop")),
    h("label", {}, t("versions.choose"), " ", input),
    " ",
    h("label", {}, t("versions.version"), " ", versionInput),
  );
  /** @param {File} file */
  const send = (file) =>
    act(out, async () => {
      fill(out);
      const bar = /** @type {HTMLProgressElement} */ (h("progress", { max: "100", value: "0" }));
      const label = h("span", {}, t("versions.uploading", { percent: 0 }));
      fill(progress, label, bar);
      const version = versionInput.value.trim();
      try {
        const stored = /** @type {PluginVersion} */ (await call("POST", `/v1/tenants/${enc(tenant)}/plugins${version === "" ? "" : `?version=${enc(version)}`}`, {
          raw: file,
          contentType: "application/wasm",
          onProgress: (sent, total) => {
            const percent = total > 0 ? Math.round((sent / total) * 100) : 0;
            bar.value = percent;
            fill(label, percent >= 100 ? t("versions.compiling") : t("versions.uploading", { percent }));
          },
        }));
        const checked = stored.fits === undefined ? "" : ` ${stored.fits ? t("check.fits") : t("check.unfit")}`;
        fill(out, h("p", { class: stored.fits === false ? "bad" : "ok", role: "status" }, t("versions.uploaded", { name: stored.name, version: stored.version }) + checked));
        fill(list, listing());
      } finally {
        fill(progress);
      }
    });
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (file !== undefined) void send(file);
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") input.click();
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer?.files[0];
    if (file !== undefined) void send(file);
  });
  /** @type {string[]} */
  let slotNames = [];
  try {
    const current = /** @type {Pipeline} */ (await call("GET", `/v1/tenants/${enc(tenant)}/pipeline`));
    slotNames = current.slots.map((s) => s.slot);
  } catch {
    // The list below shows why the tenant cannot be read.
  }
  if (slotNames.length === 0) slotNames = ["rules"];
  const listing = () =>
    paged(`/v1/tenants/${enc(tenant)}/plugins`, (/** @type {PluginVersion[]} */ items) =>
      table(
        [t("versions.name"), t("versions.ver"), t("versions.size"), t("versions.uploadedAt"), t("versions.check"), ""],
        items,
        (p) => {
          const slot = /** @type {HTMLSelectElement} */ (
            h("select", { "aria-label": t("versions.slot") }, slotNames.map((s) => h("option", { value: s }, s)))
          );
          /**
           * Puts this version into the chosen slot (`activate`) or beside
           * its active one (`shadow`, `canary`), then shows the pipeline.
           * @param {"POST" | "PUT"} method
           * @param {"activate" | "shadow" | "canary"} role
           * @param {Record<string, number>} extra
           */
          const toSlot = async (method, role, extra) => {
            await call(method, `/v1/tenants/${enc(tenant)}/pipeline/${enc(slot.value)}/${role}`, {
              body: { name: p.name, version: p.version, ...extra },
            });
            location.hash = link("t", tenant, "pipeline");
          };
          return [
            p.name,
            h("code", {}, p.version),
            `${(p.size / 1048576).toFixed(1)} MiB`,
            time(p.created_at),
            checkCell(tenant, p),
            h(
              "span",
              {},
              button(out, t("versions.activate"), "", () => toSlot("POST", "activate", {})),
              " ",
              t("versions.slot"),
              " ",
              slot,
              " ",
              button(out, t("cand.shadow"), "secondary", () => toSlot("PUT", "shadow", {})),
              " ",
              button(out, t("cand.canary"), "secondary", () => toSlot("PUT", "canary", { percent: 10 })),
              " ",
              button(out, t("versions.delete"), "danger", async () => {
                if (!confirm(t("versions.confirmDelete", { name: p.name, version: p.version }))) return;
                await call("DELETE", `/v1/tenants/${enc(tenant)}/plugins/${enc(p.name)}/${enc(p.version)}`);
                fill(list, listing());
              }),
            ),
          ];
        },
      ),
    );
  const list = h("div", {}, listing());
  fill(main, h("h1", {}, `${t("versions.title")} · ${tenant}`), h("section", { class: "card" }, drop, progress, out), list);
}

/**
 * The shadow and canary attached to the pipeline's slots, each with its
 * report and buttons to promote or detach it.
 * @param {string} tenant
 * @param {Pipeline} current
 * @param {HTMLElement} out
 */
async function candidateReports(tenant, current, out) {
  /** @param {"shadow" | "canary"} role @param {import("./types.js").Candidate} c */
  const controls = (role, c) => {
    const path = `/v1/tenants/${enc(tenant)}/pipeline/${enc(c.slot)}/${role}`;
    return [
      button(out, t("cand.promote"), "", async () => {
        await call("POST", `${path}/promote`);
        await pipeline(tenant);
      }),
      " ",
      button(out, t("cand.detach"), "danger", async () => {
        await call("DELETE", path);
        await pipeline(tenant);
      }),
    ];
  };
  /** @type {HTMLElement[]} */
  const sections = [];
  for (const c of current.shadows) {
    try {
      const status = /** @type {{ sampled: number, compared: number, report: import("./report.js").Report }} */ (
        await call("GET", `/v1/tenants/${enc(tenant)}/pipeline/${enc(c.slot)}/shadow`)
      );
      sections.push(
        h(
          "section",
          { class: "card", "data-testid": "shadow" },
          h("h2", {}, t("cand.shadowReport", { name: c.name, version: c.version, sampled: status.sampled, compared: status.compared })),
          controls("shadow", c),
          reportView(status.report),
        ),
      );
    } catch (e) {
      sections.push(problem(e));
    }
  }
  for (const c of current.canaries) {
    try {
      const status = /** @type {{ active: { decisions: number, errors: number }, candidate: { decisions: number, errors: number } }} */ (
        await call("GET", `/v1/tenants/${enc(tenant)}/pipeline/${enc(c.slot)}/canary`)
      );
      sections.push(
        h(
          "section",
          { class: "card", "data-testid": "canary" },
          h(
            "h2",
            {},
            t("cand.canaryReport", {
              name: c.name,
              version: c.version,
              percent: c.percent,
              activeDecisions: status.active.decisions,
              activeErrors: status.active.errors,
              decisions: status.candidate.decisions,
              errors: status.candidate.errors,
            }),
          ),
          controls("canary", c),
        ),
      );
    } catch (e) {
      sections.push(problem(e));
    }
  }
  return sections;
}

/**
 * Simulation: a stored or uploaded profile set, a candidate version, the
 * report.
 * @param {string} tenant
 */
async function simulate(tenant) {
  const base = `/v1/tenants/${enc(tenant)}`;
  const out = h("div", { "aria-live": "polite" });
  const result = h("div");
  /** @type {[{ name: string, customers: number }[], PluginVersion[], Pipeline]} */
  let loaded;
  try {
    loaded = await Promise.all([
      /** @type {Promise<{ name: string, customers: number }[]>} */ (call("GET", `${base}/profile-sets`)),
      call("GET", `${base}/plugins?limit=500`).then((got) => /** @type {{ items: PluginVersion[] }} */ (got).items),
      /** @type {Promise<Pipeline>} */ (call("GET", `${base}/pipeline`)),
    ]);
  } catch (e) {
    fill(main, h("h1", {}, t("sim.title")), problem(e));
    return;
  }
  const [sets, versions, current] = loaded;
  const setSelect = /** @type {HTMLSelectElement} */ (
    h("select", { id: "sim-set" }, sets.map((s) => h("option", { value: s.name }, `${s.name} (${s.customers})`)))
  );
  const file = /** @type {HTMLInputElement} */ (h("input", { type: "file", id: "sim-file", accept: ".ndjson,.jsonl,application/x-ndjson" }));
  const setName = /** @type {HTMLInputElement} */ (h("input", { id: "sim-set-name", pattern: "[a-z0-9][a-z0-9\\-]{0,63}" }));
  const progress = h("div");
  file.addEventListener("change", () => {
    const chosen = file.files?.[0];
    if (chosen === undefined) return;
    const name = setName.value.trim() || chosen.name.toLowerCase().replace(/\.[^.]*$/, "").replace(/[^a-z0-9-]+/g, "-").replace(/^-+/, "").slice(0, 64);
    void act(out, async () => {
      const bar = /** @type {HTMLProgressElement} */ (h("progress", { max: "100", value: "0" }));
      fill(progress, bar);
      try {
        const stored = /** @type {{ name: string, customers: number }} */ (
          await call("PUT", `${base}/profile-sets/${enc(name)}`, {
            raw: chosen,
            contentType: "application/x-ndjson",
            onProgress: (sent, total) => {
              bar.value = total > 0 ? Math.round((100 * sent) / total) : 0;
            },
          })
        );
        setSelect.append(h("option", { value: stored.name }, `${stored.name} (${stored.customers})`));
        setSelect.value = stored.name;
        fill(out, h("p", { class: "ok", role: "status" }, t("sim.stored", { name: stored.name, customers: stored.customers })));
      } finally {
        fill(progress);
      }
    });
  });
  const active = new Map(current.slots.map((s) => [s.active?.name ?? "", s.slot]));
  const candidate = /** @type {HTMLSelectElement} */ (
    h(
      "select",
      { id: "sim-candidate" },
      versions.filter((v) => active.has(v.name)).map((v) => h("option", { value: `${v.name}\u0000${v.version}` }, `${v.name} ${v.version}`)),
    )
  );
  const now = /** @type {HTMLInputElement} */ (h("input", { id: "sim-now", placeholder: "2026-03-10T10:00:00+08:00", size: "30" }));
  const run = h(
    "button",
    {
      type: "button",
      onclick: () =>
        void act(out, async () => {
          fill(out);
          fill(result);
          const [name = "", version = ""] = candidate.value.split("\u0000");
          const query = new URLSearchParams({ name, version, slot: active.get(name) ?? "main", profile_set: setSelect.value, samples: "20" });
          if (now.value.trim() !== "") query.set("now", now.value.trim());
          const started = Date.now();
          const ticker = h("p", { role: "status" }, t("sim.running", { seconds: 0 }));
          fill(progress, ticker, h("progress", {}));
          const timer = window.setInterval(() => {
            fill(ticker, t("sim.running", { seconds: Math.round((Date.now() - started) / 1000) }));
          }, 1000);
          try {
            const report = /** @type {import("./report.js").Report} */ (await call("POST", `${base}/simulate?${query.toString()}`));
            fill(result, h("section", { class: "card" }, reportView(report)));
          } finally {
            window.clearInterval(timer);
            fill(progress);
          }
        }),
    },
    t("sim.run"),
  );
  fill(
    main,
    h("h1", {}, `${t("sim.title")} · ${tenant}`),
    h(
      "section",
      { class: "card" },
      h("p", { class: "muted" }, t("sim.help")),
      h("div", { class: "inline" }, h("label", { class: "field" }, h("span", {}, t("sim.set")), setSelect)),
      h("p", {}, t("sim.upload"), " ", h("label", {}, t("sim.setName"), " ", setName), " ", file),
      h("div", { class: "inline" }, h("label", { class: "field" }, h("span", {}, t("sim.candidate")), candidate), " ", h("label", { class: "field" }, h("span", {}, t("sim.now")), now)),
      h("p", { class: "muted" }, t("sim.nowHelp")),
      run,
      progress,
      out,
    ),
    result,
  );
}

/** @param {string} tenant */
function config(tenant) {
  const base = `/v1/tenants/${enc(tenant)}`;
  fill(
    main,
    h("h1", {}, `${t("config.title")} · ${tenant}`),
    documentEditor(t("config.offers"), `${base}/offers`, "offers"),
    documentEditor(t("config.policy"), `${base}/policy`, "policy"),
    documentEditor(t("config.config"), `${base}/config`, "config"),
    documentEditor(t("config.triggers"), `${base}/triggers`, "triggers"),
  );
}

/** @param {string} tenant */
function audit(tenant) {
  fill(
    main,
    h("h1", {}, `${t("audit.title")} · ${tenant}`),
    paged(`/v1/tenants/${enc(tenant)}/audit`, (/** @type {import("./types.js").AuditEntry[]} */ items) =>
      table([t("audit.at"), t("audit.actor"), t("audit.action"), t("audit.detail")], items, (e) => [
        time(e.at),
        e.actor,
        h("code", {}, e.action),
        h("code", {}, JSON.stringify(e.detail)),
      ]),
    ),
  );
}

/** @param {string} tenant */
function decisions(tenant) {
  const results = h("div");
  const form = /** @type {HTMLFormElement} */ (
    h("form", { class: "inline", role: "search" }, field(t("decisions.customer"), { name: "customer" }), h("button", { type: "submit" }, t("decisions.find")))
  );
  const show = () => {
    const customer = value(form, "customer").trim();
    const path = `/v1/tenants/${enc(tenant)}/decisions${customer === "" ? "" : `?customer_id=${enc(customer)}`}`;
    fill(
      results,
      paged(path, (/** @type {DecisionSummary[]} */ items) =>
        table([t("decisions.at"), t("decisions.customer"), t("decisions.id")], items, (d) => [
          time(d.at),
          d.customer_id,
          h("a", { href: link("t", tenant, "decisions", d.id) }, h("code", {}, d.id)),
        ]),
      ),
    );
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    show();
  });
  fill(main, h("h1", {}, `${t("decisions.title")} · ${tenant}`), h("section", { class: "card" }, form), results);
  show();
}

/**
 * A tenant's customers as the host keeps them: find one by any of its
 * ids; the event stream's dead letters.
 * @param {string} tenant
 */
function customers(tenant) {
  const form = /** @type {HTMLFormElement} */ (
    h("form", { class: "inline", role: "search" }, field(t("customers.id"), { name: "customer", required: true }), h("button", { type: "submit" }, t("customers.open")))
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = link("t", tenant, "customers", value(form, "customer").trim());
  });
  const dead = h("section", { class: "card", "data-testid": "dead-letters" }, h("h2", {}, t("dead.title")), t("common.loading"));
  fill(
    main,
    h("h1", {}, `${t("customers.title")} · ${tenant}`),
    h("section", { class: "card" }, h("p", { class: "muted" }, t("customers.help")), form),
    dead,
  );
  void (async () => {
    try {
      const got = /** @type {DeadLetters} */ (await call("GET", `/v1/tenants/${enc(tenant)}/dead-letters`));
      fill(
        dead,
        h("h2", {}, t("dead.title"), " ", h("span", { class: `pill ${got.count === 0 ? "good" : "bad"}`, "data-testid": "dead-count" }, String(got.count))),
        h("p", { class: "muted" }, t("dead.help")),
        table([t("dead.at"), t("dead.subject"), t("dead.reason"), t("dead.excerpt")], got.items, (d) => [
          time(d.at),
          h("code", {}, d.subject),
          d.reason,
          h("code", {}, d.excerpt),
        ]),
      );
    } catch (e) {
      fill(dead, h("h2", {}, t("dead.title")), problem(e));
    }
  })();
}

/**
 * One customer as plugins see it, and what happened to them: profile,
 * event timeline, stage history, decisions, touches and pending timers.
 * @param {string} tenant
 * @param {string} id
 */
async function customer(tenant, id) {
  const title = h("h1", {}, t("customer.title", { id }));
  fill(main, title, t("common.loading"));
  const path = `/v1/tenants/${enc(tenant)}/customers/${enc(id)}`;
  /** @type {Customer} */
  let c;
  try {
    c = /** @type {Customer} */ (await call("GET", path));
  } catch (e) {
    fill(main, title, problem(e));
    return;
  }
  const p = c.profile;
  const open = (/** @type {string} */ decisionId) => h("a", { href: link("t", tenant, "decisions", decisionId) }, h("code", {}, decisionId));
  const out = h("div", { "aria-live": "polite" });
  const erase = button(out, t("customer.erase"), "danger", async () => {
    if (!confirm(t("customer.confirmErase", { id: c.customer_id }))) return;
    await call("DELETE", path);
    fill(main, title, h("p", { class: "ok", role: "status" }, t("customer.erased", { id: c.customer_id })));
  });
  const card = (/** @type {string} */ testid, /** @type {string} */ heading, /** @type {(import("./ui.js").Child | import("./ui.js").Child[])[]} */ ...body) =>
    h("section", { class: "card", "data-testid": testid }, h("h2", {}, heading), ...body);
  fill(
    main,
    title,
    h("p", {}, c.customer_id === id ? "" : [t("customer.linkedTo", { id: c.customer_id }), " · "], t("customer.updated"), " ", time(c.updated_at), " · ",
      p.prior.stage ? h("span", { class: "pill", "data-testid": "stage-now" }, named("stage", p.prior.stage)) : t("customer.noStage")),
    card("profile", t("customer.profile"),
      table([t("customer.key"), t("customer.value")], [
        ...Object.entries(p.identities).map(([k, v]) => [`${t("customer.identity")}: ${k}`, v]),
        ...c.ids.map((a) => [t("customer.linked"), `${a.id} (${a.event_id})`]),
        ...Object.entries(p.attributes).map(([k, v]) => [k, JSON.stringify(v)]),
        ...p.prior.tags.map((tag) => [t("customer.tag"), tagName(tag.group, tag.name)]),
      ], (row) => row)),
    card("timeline", t("customer.timeline", { n: p.events.length }),
      table([t("customer.at"), t("customer.kind"), t("customer.channel"), t("customer.amount"), t("customer.detail")], [...p.events].reverse(), (e) => [
        time(e.at),
        h("code", {}, e.kind),
        e.channel ?? "",
        e.amount_minor ?? "",
        [e.category, e.sku, Object.keys(e.props ?? {}).length > 0 ? JSON.stringify(e.props) : undefined].filter((x) => x !== undefined && x !== null).join(" · "),
      ])),
    card("stages", t("customer.stages"),
      table([t("customer.at"), t("customer.from"), t("customer.to"), t("decisions.id")], [...c.stages].reverse(), (s) => [
        time(s.at),
        s.from ? named("stage", s.from) : "—",
        h("span", { class: "pill" }, named("stage", s.to)),
        open(s.decision_id),
      ])),
    card("customer-decisions", t("customer.decisions"),
      table([t("decisions.at"), t("decisions.id")], c.decisions, (d) => [time(d.at), open(d.id)])),
    card("touches", t("customer.touches"),
      table([t("customer.at"), t("decision.offer"), t("decision.channel"), t("customer.class"), t("decisions.id")], c.touches, (x) => [
        time(x.at), x.offer_id, x.channel, x.class, x.decision_id ? open(x.decision_id) : "",
      ])),
    card("timers", t("customer.timers"),
      table([t("customer.due"), t("customer.kind"), t("decision.key"), t("customer.why"), t("customer.setBy")], c.timers, (x) => [
        time(x.due_at),
        t(/** @type {"timer.event" | "timer.wake" | "timer.touch"} */ (`timer.${x.kind}`)),
        h("code", {}, x.key),
        x.kind === "wake" ? x.body : "",
        // An event's id set a triggered decision; a decision set the rest.
        x.kind === "event" ? h("code", {}, x.set_by) : open(x.set_by),
      ])),
    h("section", { class: "card" }, h("h2", {}, t("customer.erase")), h("p", { class: "muted" }, t("customer.eraseHelp")), erase, out),
  );
}

/**
 * One decision with its explanation, its policy funnel and a replay.
 * @param {string} tenant
 * @param {string} id
 */
async function decision(tenant, id) {
  const title = h("h1", {}, t("decision.title", { id }));
  fill(main, title, t("common.loading"));
  /** @type {LoggedDecision} */
  let logged;
  try {
    logged = /** @type {LoggedDecision} */ (await call("GET", `/v1/tenants/${enc(tenant)}/decisions/${enc(id)}`));
  } catch (e) {
    fill(main, title, problem(e));
    return;
  }
  const d = logged.decision;
  /** @param {Explained} x */
  const origin = (x) => [x.plugin, h("code", {}, x.rule_id), x.reason];
  const explained = [t("decision.plugin"), t("decision.rule"), t("decision.reason")];
  fill(
    main,
    title,
    h("p", {}, `${t("decisions.customer")}: `, h("strong", {}, logged.customer_id), " · ", time(logged.now), " · ",
      logged.plugins.map((p) => `${p.name} ${p.version}`).join(", ")),
    h(
      "section",
      { class: "card", "data-testid": "stage" },
      h("h2", {}, t("decisions.stage")),
      d.stage
        ? table([t("decisions.stage"), ...explained], [d.stage], (s) => [h("span", { class: "pill" }, named("stage", s.value)), ...origin(s)])
        : h("p", { class: "empty" }, t("common.none")),
    ),
    h("section", { class: "card", "data-testid": "tags" }, h("h2", {}, t("decision.tags")),
      table([t("decision.value"), ...explained], d.tags, (x) => [tagName(x.group, x.name), ...origin(x)])),
    h("section", { class: "card", "data-testid": "scores" }, h("h2", {}, t("decision.scores")),
      table([t("decision.value"), ...explained], d.scores, (x) => [`${x.name} = ${x.value}`, ...origin(x)])),
    h("section", { class: "card", "data-testid": "proposals" }, h("h2", {}, t("decision.proposals")),
      table([t("decision.offer"), t("decision.channel"), ...explained], d.proposals, (x) => [x.offer_id, x.channel, ...origin(x)])),
    funnel(d),
    (d.wakes ?? []).length === 0
      ? null
      : h("section", { class: "card", "data-testid": "wakes" }, h("h2", {}, t("decision.wakes")),
          table([t("decision.key"), t("decision.when"), t("decision.plugin"), t("decision.reason")], d.wakes ?? [], (w) => [
            h("code", {}, w.key),
            w.clear || !w.at ? t("decision.cleared") : time(w.at),
            w.plugin,
            w.reason ?? "",
          ])),
    await replay(tenant, logged),
    decideAgain(tenant, logged),
  );
}

/**
 * The contact policy's funnel: proposed → suppressed (rule, detail) → selected.
 * @param {Decision} d
 */
function funnel(d) {
  /** @type {[string, string, string, string][]} */
  const rows = [
    ...d.proposals.map((p) => /** @type {[string, string, string, string]} */ ([t("decision.proposed"), `${p.offer_id} · ${p.channel}`, p.rule_id, p.reason])),
    ...(d.suppressed ?? []).map((s) => /** @type {[string, string, string, string]} */ ([t("decision.suppressed"), `${s.offer_id} · ${s.channel}`, s.rule, s.detail])),
    ...(d.selected ?? []).map((s) => /** @type {[string, string, string, string]} */ ([t("decision.selected"), `${s.offer_id} · ${s.channel}`, s.rule_id, s.reason])),
  ];
  return h(
    "section",
    { class: "card funnel", "data-testid": "funnel" },
    h("h2", {}, t("decision.funnel")),
    table(["", t("decision.offer"), t("decision.rule"), t("decision.detail")], rows, (row) => row),
  );
}

/**
 * Asks again with what runs now: the logged customer, trigger and
 * instant decided by the active pipeline — a dry run, so the
 * contact ledger records nothing — and opens the new decision.
 * @param {string} tenant
 * @param {LoggedDecision} logged
 */
function decideAgain(tenant, logged) {
  const out = h("div", { "aria-live": "polite" });
  const request = logged.request;
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("decision.again")),
    h("p", { class: "muted" }, t(request ? "decision.againHelp" : "decision.againNoRequest")),
    request
      ? button(out, t("decision.againRun"), "", async () => {
          const made = /** @type {{ decision_id: string }} */ (
            await call("POST", `/v1/tenants/${enc(tenant)}/decide`, {
              // The seed is left to the server, which derives it from the
              // customer as it did for the logged decision unless its
              // caller gave one (a 64-bit seed does not survive a number).
              body: { profile: request.profile, now: logged.now, ...(request.trigger ? { trigger: request.trigger } : {}) },
            })
          );
          location.hash = link("t", tenant, "decisions", made.decision_id);
        })
      : null,
    out,
  );
}

/**
 * Replays a logged decision against another version of one of its plugins
 * (or the same ones) and shows what would differ.
 * @param {string} tenant
 * @param {LoggedDecision} logged
 */
async function replay(tenant, logged) {
  const out = h("div", { "aria-live": "polite" });
  /** @type {PluginVersion[]} */
  let candidates = [];
  try {
    const names = new Set(logged.plugins.map((p) => p.name));
    const all = /** @type {{ items: PluginVersion[] }} */ (await call("GET", `/v1/tenants/${enc(tenant)}/plugins?limit=500`));
    candidates = all.items.filter((p) => names.has(p.name));
  } catch (e) {
    fill(out, problem(e));
  }
  const select = /** @type {HTMLSelectElement} */ (
    h(
      "select",
      { "aria-label": t("decision.replay") },
      candidates.map((p) => h("option", { value: `${p.name}\u0000${p.version}` }, `${p.name} ${p.version}`)),
    )
  );
  const run = h(
    "button",
    {
      type: "button",
      onclick: () =>
        void act(out, async () => {
          const [plugin = "", version = ""] = select.value.split("\u0000");
          const result = /** @type {Replay} */ (
            await call("POST", `/v1/tenants/${enc(tenant)}/decisions/${enc(logged.id)}/replay`, { body: { plugin, version } })
          );
          fill(
            out,
            result.identical
              ? h("p", { class: "ok", role: "status" }, t("decision.same"))
              : h("div", { "data-testid": "differences" }, h("h3", {}, t("decision.differs")),
                  table(["", "", ""], result.differences, (x) => [h("code", {}, x.path), JSON.stringify(x.expected ?? null), JSON.stringify(x.actual ?? null)])),
          );
        }),
    },
    t("decision.replayRun"),
  );
  return h("section", { class: "card" }, h("h2", {}, t("decision.replay")), h("p", {}, select, " ", run), out);
}

langButton.addEventListener("click", () => {
  setLang(lang() === "zh-CN" ? "en" : "zh-CN");
  void render();
});
window.addEventListener("hashchange", () => void render());
void render();
