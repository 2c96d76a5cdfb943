// The console in Debian's Chromium, driven by Playwright against a real
// `rulehost serve --demo` (started by the end-to-end test `console::`,
// which passes its address, the operator token, the demo coffee key and a
// compiled plugin to upload). Every main page is saved as a screenshot and
// checked not blank; the browser must log no error and lose no request
// but the refusals a step provokes on purpose.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type Page, chromium } from "playwright-core";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set: run through \`cargo test --test e2e console::\``);
  return value;
}

const url = env("RULEHOST_URL");
const operator = env("RULEHOST_OPERATOR");
const coffeeKey = env("RULEHOST_TENANT_KEY");
const plugin = env("RULEHOST_PLUGIN");
const sample = env("RULEHOST_SAMPLE_REQUEST");
const profiles = env("RULEHOST_PROFILES");
const apparelKey = env("RULEHOST_APPAREL_KEY");
const apparelSample = env("RULEHOST_APPAREL_SAMPLE_REQUEST");
const shots = env("RULEHOST_SCREENSHOTS");

/** Chromium and its flags on this kind of machine (`tests/e2e/main.rs`). */
const chromiumPath = env("RULEHOST_CHROMIUM");
const FLAGS = env("RULEHOST_CHROMIUM_FLAGS").split(" ");

let browser: Browser;
let page: Page;
/** Everything the browser reported that went wrong. */
const problems: string[] = [];
/** Refusals a step provokes on purpose: `status path` (the browser logs them as errors). */
const expected = new Set<string>();

before(async () => {
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: FLAGS });
  const context = await browser.newContext({ viewport: { width: 1366, height: 800 }, locale: "en-US" });
  page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location().url;
    const refusal = /status of (\d{3})/.exec(message.text())?.[1];
    const path = where.startsWith(url) ? new URL(where).pathname : where;
    if (refusal !== undefined && expected.has(`${refusal} ${path}`)) return;
    problems.push(`console error: ${message.text()} (${where})`);
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ""}`));
  page.on("response", (response) => {
    const path = new URL(response.url()).pathname;
    if (response.status() >= 400 && !expected.has(`${response.status()} ${path}`)) {
      problems.push(`refused: ${response.status()} ${response.request().method()} ${path}`);
    }
  });
});

after(async () => {
  await browser.close();
});

/** Saves the page and checks it is neither blank nor broken. */
async function shot(name: string): Promise<void> {
  const file = join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const text = (await page.locator("main").innerText()).trim();
  assert.ok(text.length > 20, `${name}: the page shows almost nothing: ${JSON.stringify(text)}`);
  // A blank 1366×800 page compresses to a few kilobytes.
  assert.ok(statSync(file).size > 8_000, `${name}: the screenshot looks blank`);
  assert.deepEqual(problems, [], `${name}: the browser reported problems`);
}

async function signIn(token: string): Promise<void> {
  await page.goto(`${url}/console/`);
  await page.getByLabel(/Token or key|令牌或密钥/).fill(token);
  await page.keyboard.press("Enter");
}

async function signOut(): Promise<void> {
  await page.getByRole("button", { name: /Sign out|退出/ }).click();
  await page.getByRole("heading", { name: /Sign in|登录/ }).waitFor();
}

/** A decision through the public API, as a brand's system makes it. */
async function decide(tenant = "coffee", key = coffeeKey, request = sample): Promise<{ decision_id: string; customer_id: string }> {
  const response = await fetch(`${url}/v1/tenants/${tenant}/decide`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: readFileSync(request),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as { decision_id: string; customer_id: string };
}

describe("the console", () => {
  it("signs the operator in and shows tenants, keys and health", async () => {
    await signIn(operator);
    await page.getByRole("heading", { name: "Tenants" }).waitFor();
    await page.getByRole("link", { name: "coffee", exact: true }).waitFor();
    await page.getByRole("link", { name: "apparel", exact: true }).waitFor();
    await shot("operator-tenants");

    // A new tenant, its limits refused past the server's ceiling and then
    // set, and the tenant disabled.
    await page.getByLabel("Id", { exact: true }).fill("console-made");
    await page.getByLabel("Name", { exact: true }).fill("Made in the console");
    await page.getByRole("button", { name: "Create tenant" }).click();
    await page.getByRole("heading", { name: "Made in the console (console-made)" }).waitFor();
    expected.add("400 /v1/tenants/console-made");
    await page.getByLabel("Deadline (ms of CPU)").fill("99999999");
    await page.getByRole("button", { name: "Save limits" }).click();
    await page.getByRole("alert").filter({ hasText: "limits.deadline_ms" }).waitFor();
    expected.delete("400 /v1/tenants/console-made");
    await page.getByLabel("Deadline (ms of CPU)").fill("120");
    await page.getByRole("button", { name: "Save limits" }).click();
    await page.getByRole("status").filter({ hasText: "Done." }).waitFor();
    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("button", { name: "Enable" }).waitFor();
    const made = (await (await fetch(`${url}/v1/tenants/console-made`, { headers: { Authorization: `Bearer ${operator}` } })).json()) as {
      disabled: boolean;
      limits: { deadline_ms: number };
    };
    assert.deepEqual([made.disabled, made.limits.deadline_ms], [true, 120]);
    await page.getByRole("link", { name: "Tenants" }).click();

    await page.getByRole("link", { name: "coffee", exact: true }).click();
    await page.getByRole("heading", { name: "Keys" }).waitFor();
    await page.getByLabel("Label").fill("console test");
    await page.getByRole("button", { name: "Issue key" }).click();
    const issued = (await page.getByTestId("issued-key").innerText()).trim();
    assert.match(issued, /^rh_/);
    // The new key works at once, and stops working once revoked.
    const check = () => fetch(`${url}/v1/tenants/coffee/pipeline`, { headers: { Authorization: `Bearer ${issued}` } });
    assert.equal((await check()).status, 200);
    const keyId = issued.split("_")[1]!;
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("row", { name: new RegExp(keyId) }).getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("row", { name: new RegExp(keyId) }).getByRole("button", { name: "Revoke" }).waitFor({ state: "detached" });
    assert.equal((await check()).status, 401);
    await shot("operator-tenant");

    await decide();
    await page.getByRole("link", { name: "Health" }).click();
    await page.getByText("ready", { exact: true }).waitFor();
    await page.getByRole("cell", { name: "coffee", exact: true }).waitFor();
    await shot("operator-health");
    await signOut();
  });

  it("lets a tenant upload, activate, find a decision with its explanation and roll back", async () => {
    await signIn(coffeeKey);
    await page.getByRole("heading", { name: /Pipeline/ }).waitFor();
    const active = page.getByRole("row", { name: /coffee-chain/ }).first();
    await active.waitFor();
    await shot("tenant-pipeline");

    // Bytes that are no plugin: the server's refusal, shown as it is.
    await page.getByRole("link", { name: "Versions" }).click();
    expected.add("400 /v1/tenants/coffee/plugins");
    // From the keyboard: Enter on the drop zone asks the file input for
    // its chooser (the click is stopped here, so no dialog opens).
    await page.locator("#upload-file").evaluate((input) => {
      input.addEventListener("click", (e) => {
        e.preventDefault();
        input.dataset["asked"] = "yes";
      }, { once: true });
    });
    await page.locator(".drop").focus();
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector<HTMLInputElement>("#upload-file")?.dataset["asked"] === "yes");
    await page.locator("#upload-file").setInputFiles({ name: "broken.wasm", mimeType: "application/wasm", buffer: Buffer.from("not wasm at all") });
    await page.getByRole("alert").filter({ hasText: "invalid_plugin" }).waitFor();
    expected.delete("400 /v1/tenants/coffee/plugins");

    // A real plugin, dropped on the page as a user drags it from their
    // files; then activated in the coffee slot.
    await page.locator("#upload-version").fill("0.9.0-console");
    const dropped = await page.evaluateHandle((bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], "coffee-chain.wasm", { type: "application/wasm" }));
      return transfer;
    }, [...readFileSync(plugin)]);
    await page.locator(".drop").dispatchEvent("drop", { dataTransfer: dropped });
    await page.getByRole("status").filter({ hasText: "0.9.0-console" }).waitFor({ timeout: 120_000 });
    // The server checked it at the upload over customers of every shape:
    // it fits, and the report is one click away on its row.
    await page.getByRole("status").filter({ hasText: "✓ fits its limits" }).waitFor();
    const uploaded = page.getByRole("row", { name: /0\.9\.0-console/ }).first();
    await uploaded.getByText("✓ fits its limits").click();
    await uploaded.getByRole("cell", { name: "instructions" }).waitFor();
    assert.match(await uploaded.innerText(), /customers of every shape, \d+ decisions \(each input twice\)/);
    await shot("tenant-versions");

    // What the new version would change, before it goes live: a set of
    // customers stored from a file, the candidate simulated over it.
    await page.getByRole("link", { name: "Simulation" }).click();
    // The demo's own customers are there to pick…
    await page.locator("#sim-set option", { hasText: "coffee-customers (200)" }).waitFor({ state: "attached" });
    // …and a set of one's own is stored from a file.
    await page.locator("#sim-set-name").fill("console-customers");
    await page.locator("#sim-file").setInputFiles(profiles);
    await page.getByRole("status").filter({ hasText: "console-customers" }).waitFor({ timeout: 60_000 });
    await page.locator("#sim-candidate").selectOption({ label: "coffee-chain 0.9.0-console" });
    await page.locator("#sim-now").fill("2026-03-10T10:00:00+08:00");
    await page.getByRole("button", { name: "Run simulation" }).click();
    const report = page.getByTestId("report");
    await report.waitFor({ timeout: 120_000 });
    assert.match(await report.innerText(), /300 customers/);
    // The candidate moves customers between stages: off the diagonal.
    assert.ok((await page.getByTestId("transitions").locator("td.moved").count()) > 0, "the transition matrix shows customers moved");
    await shot("tenant-simulation");

    // Tried live first: as a shadow (its report on the pipeline page), then
    // as a canary; each detached again.
    await page.getByRole("link", { name: "Versions" }).click();
    await page.getByRole("row", { name: /0\.9\.0-console/ }).getByRole("button", { name: "Shadow" }).click();
    await page.getByTestId("shadow").getByRole("heading", { name: /Shadow coffee-chain 0\.9\.0-console/ }).waitFor();
    await page.getByTestId("shadow").getByTestId("report").waitFor();
    await page.getByTestId("shadow").getByRole("button", { name: "Detach" }).click();
    await page.getByTestId("shadow").waitFor({ state: "detached" });
    await page.getByRole("link", { name: "Versions" }).click();
    await page.getByRole("row", { name: /0\.9\.0-console/ }).getByRole("button", { name: "Canary 10%" }).click();
    await page.getByTestId("canary").getByRole("heading", { name: /Canary coffee-chain 0\.9\.0-console \(10%\)/ }).waitFor();
    await shot("tenant-candidates");
    await page.getByTestId("canary").getByRole("button", { name: "Detach" }).click();
    await page.getByTestId("canary").waitFor({ state: "detached" });

    await page.getByRole("link", { name: "Versions" }).click();
    await page.getByRole("row", { name: /0\.9\.0-console/ }).getByRole("button", { name: "Activate" }).click();
    await page.getByRole("heading", { name: /Pipeline/ }).waitFor();
    await page.getByRole("cell", { name: /0\.9\.0-console/ }).waitFor();

    // A decision through the API, found in the explorer with its explanation.
    const made = await decide();
    await page.getByRole("link", { name: "Decisions" }).click();
    await page.getByLabel("Customer id").fill(made.customer_id);
    await page.getByRole("button", { name: "Find" }).click();
    await page.getByRole("link", { name: made.decision_id }).click();
    await page.getByTestId("stage").getByRole("cell", { name: "coffee-chain" }).first().waitFor();
    const tags = await page.getByTestId("tags").innerText();
    assert.match(tags, /coffee\.tag\./, "each tag shows its rule id");
    await page.getByTestId("funnel").getByText("Proposed").first().waitFor();
    await shot("tenant-decision");

    // Replayed against the version that ran before: the differences shown.
    await page.getByLabel("Replay against").selectOption({ label: "coffee-chain 0.1.0" });
    await page.getByRole("button", { name: "Replay", exact: true }).click();
    await page.locator('[data-testid="differences"], p.ok').first().waitFor();

    // In Chinese: the stage named as the brands name it.
    await page.getByRole("button", { name: "中文" }).click();
    const stage = await page.getByTestId("stage").locator(".pill").innerText();
    assert.ok(["引入期", "成长期", "成熟期", "休眠期", "流失期", "唤醒期"].includes(stage), `stage shown as ${stage}`);
    await page.getByRole("heading", { name: "标签" }).waitFor();
    await shot("tenant-decision-zh");
    await page.getByRole("button", { name: "English" }).click();

    // A bad offers document: the server's refusal at the line of the field
    // it names, and nothing stored changed.
    const offersBefore: unknown = await (await fetch(`${url}/v1/tenants/coffee/offers`, { headers: { Authorization: `Bearer ${coffeeKey}` } })).json();
    await page.getByRole("link", { name: "Config & offers" }).click();
    const offers = page.locator("#edit-offers");
    await page.waitForFunction(() => (document.querySelector<HTMLTextAreaElement>("#edit-offers")?.value ?? "").includes("pastry-pairing"));
    const text = await offers.inputValue();
    const lines = text.split("\n");
    const at = lines.findIndex((l, i) => i > lines.findIndex((x) => x.includes('"pastry-pairing"')) && l.includes('"priority"'));
    assert.ok(at > 0, "the second offer has a priority line");
    lines[at] = lines[at]!.replace(/"priority": \d+/, '"priority": "high"');
    await offers.fill(lines.join("\n"));
    expected.add("400 /v1/tenants/coffee/offers");
    await page.locator(".editor").filter({ has: offers }).getByRole("button", { name: "Save" }).click();
    const refusal = page.locator("#edit-offers-error .field-error");
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /\[1\]\.priority/);
    assert.equal(await refusal.getAttribute("data-line"), String(at + 1), "the error points at the priority line");
    assert.equal(await page.locator(".editor").filter({ has: offers }).locator(".gutter .bad").innerText(), `${at + 1}\n`);
    expected.delete("400 /v1/tenants/coffee/offers");
    const offersAfter: unknown = await (await fetch(`${url}/v1/tenants/coffee/offers`, { headers: { Authorization: `Bearer ${coffeeKey}` } })).json();
    assert.deepEqual(offersAfter, offersBefore, "a refused document changes nothing stored");
    await shot("tenant-config");

    // The audit log: the activation, who made it.
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("cell", { name: "pipeline.activate" }).first().waitFor();
    await shot("tenant-audit");

    // Help opens the page's chapter of the book, served by the same server.
    // (The header is drawn again once the page's route is taken: wait for
    // the link of this page, not the one of the page before.)
    await page.getByRole("link", { name: "Config & offers" }).click();
    const help = page.locator('header a.help[href="/book/reference/json.md"]');
    await help.waitFor();
    assert.equal(await help.innerText(), "Help");
    const [book] = await Promise.all([page.context().waitForEvent("page"), help.click()]);
    await book.getByRole("heading", { level: 1, name: "JSON formats" }).waitFor();
    await book.getByRole("navigation", { name: "Contents" }).getByRole("link", { name: "Getting started" }).click();
    await book.getByRole("heading", { level: 1, name: "Getting started" }).waitFor();
    await book.screenshot({ path: join(shots, "book-getting-started.png"), fullPage: false });
    await book.close();

    // Rolled back: the version before runs again.
    await page.getByRole("link", { name: "Pipeline" }).click();
    await page.getByRole("button", { name: /Roll back/ }).click();
    await page.getByRole("cell", { name: /0\.9\.0-console/ }).waitFor({ state: "detached" });
    const pipeline = (await (await fetch(`${url}/v1/tenants/coffee/pipeline`, { headers: { Authorization: `Bearer ${coffeeKey}` } })).json()) as {
      slots: { active: { version: string } }[];
    };
    assert.notEqual(pipeline.slots[0]?.active.version, "0.9.0-console");

    // The decision the rolled-back version made, asked again with what runs
    // now: a new decision, by the version before.
    await page.goto(`${url}/console/#/t/coffee/decisions/${made.decision_id}`);
    await page.getByRole("button", { name: "Decide again" }).click();
    await page.waitForURL((u) => u.hash.includes("/decisions/") && !u.hash.endsWith(made.decision_id));
    const again = new URL(page.url()).hash.split("/").pop()!;
    await page.getByRole("heading", { name: `Decision ${again}` }).waitFor();
    assert.match(await page.locator("main > p").first().innerText(), /coffee-chain 0\.1\.0/);
    await page.getByTestId("stage").getByRole("cell", { name: "coffee.stage", exact: false }).first().waitFor();
  });

  it("follows a customer from their events to the decision they triggered, its touch and its wake-up", async () => {
    // A brand's events, as its systems send them: the member's tier, a
    // second id, then a purchase (the demo's triggers start a decision).
    const now = new Date().toISOString();
    const events = [
      { event_id: "console-tier", customer_id: "console-m1", kind: "attributes", at: now, props: { member_level: "gold" } },
      { event_id: "console-id", customer_id: "console-m1", kind: "identify", at: now, props: { wechat_unionid: "o-console" } },
      { event_id: "console-pos", customer_id: "o-console", kind: "purchase", at: now, amount_minor: 3200, category: "latte", channel: "store" },
    ];
    const sent = await fetch(`${url}/v1/tenants/coffee/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${coffeeKey}`, "Content-Type": "application/json" },
      body: JSON.stringify(events),
    });
    assert.equal(sent.status, 200, await sent.clone().text());
    // The triggered decision commits (its touch reaches the feed).
    for (let i = 0; ; i++) {
      const feed = (await (await fetch(`${url}/v1/tenants/coffee/touches?wait=5`, { headers: { Authorization: `Bearer ${coffeeKey}` } })).json()) as {
        items: { delivery: { customer_id: string } }[];
      };
      if (feed.items.some((item) => item.delivery.customer_id === "console-m1")) break;
      assert.ok(i < 6, "the purchase's decision never reached the feed");
    }

    await page.getByRole("link", { name: "Customers" }).click();
    await page.getByRole("heading", { name: /^Customers/ }).waitFor();
    // The event stream's poison message, counted with its reason.
    assert.equal(await page.getByTestId("dead-count").innerText(), "1");
    await page.getByTestId("dead-letters").getByRole("cell", { name: /missing field `customer_id`/ }).waitFor();
    await shot("tenant-customers");

    // Found by the id the purchase named: the member it was linked to.
    await page.getByLabel("Customer id").fill("o-console");
    await page.getByRole("button", { name: "Open" }).click();
    await page.getByRole("heading", { name: "Customer o-console" }).waitFor();
    await page.getByText("An id of customer console-m1").waitFor();
    await page.getByTestId("profile").getByRole("cell", { name: "member_level" }).waitFor();
    await page.getByTestId("timeline").getByRole("cell", { name: "purchase" }).waitFor();
    await page.getByTestId("touches").locator("tbody tr").first().waitFor();
    await page.getByTestId("stages").locator(".pill").first().waitFor();
    // The purchase's decision asked (coffee-chain's rule) to be woken when
    // the customer would turn dormant.
    const timer = page.getByTestId("timers").getByRole("row", { name: /dormancy-check/ });
    await timer.getByRole("cell", { name: "wake-up" }).waitFor();
    await shot("tenant-customer");
    await page.getByRole("button", { name: "中文" }).click();
    await page.getByRole("heading", { name: "待触发的定时" }).waitFor();
    await shot("tenant-customer-zh");
    await page.getByRole("button", { name: "English" }).click();

    // The decision that set it, with the wake-up it asked for.
    await timer.getByRole("link").click();
    await page.getByTestId("wakes").getByRole("cell", { name: "dormancy-check" }).waitFor();
    await page.getByTestId("funnel").getByText("Selected").first().waitFor();

    // The triggers are a document like the others, refused at the field.
    await page.getByRole("link", { name: "Config & offers" }).click();
    const triggers = page.locator("#edit-triggers");
    await page.waitForFunction(() => (document.querySelector<HTMLTextAreaElement>("#edit-triggers")?.value ?? "").includes("order_unpaid"));
    await triggers.fill('{"events": [{"kind": "purchase"}, {"kind": "timer"}]}');
    expected.add("400 /v1/tenants/coffee/triggers");
    await page.locator(".editor").filter({ has: triggers }).getByRole("button", { name: "Save" }).click();
    const refusal = page.locator("#edit-triggers-error .field-error");
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /events\[1\]\.kind "timer" is reserved/);
    expected.delete("400 /v1/tenants/coffee/triggers");

    // Erased: nothing is kept of them, by either id.
    await page.goto(`${url}/console/#/t/coffee/customers/console-m1`);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Erase this customer" }).click();
    await page.getByRole("status").filter({ hasText: "Customer console-m1 was erased." }).waitFor();
    for (const id of ["console-m1", "o-console"]) {
      const gone = await fetch(`${url}/v1/tenants/coffee/customers/${id}`, { headers: { Authorization: `Bearer ${coffeeKey}` } });
      assert.equal(gone.status, 404, id);
    }
  });

  it("names the RFM segments as the brands do, in Chinese", async () => {
    await signOut();
    await signIn(apparelKey);
    const made = await decide("apparel", apparelKey, apparelSample);
    await page.goto(`${url}/console/#/t/apparel/decisions/${made.decision_id}`);
    await page.getByRole("button", { name: "中文" }).click();
    const tags = await page.getByTestId("tags").innerText();
    const segments = ["重要价值客户", "忠诚客户", "潜力忠诚客户", "新客户", "有潜力客户", "需要关注客户", "即将沉睡客户", "重要保持客户", "重要挽留客户", "沉睡客户"];
    assert.ok(segments.some((s) => tags.includes(`· ${s}`)), `no segment named in Chinese among the tags: ${tags}`);
    await shot("tenant-decision-segments-zh");
    await page.getByRole("button", { name: "English" }).click();
    await signOut();
    await signIn(coffeeKey);
    await page.getByRole("heading", { name: /Pipeline/ }).waitFor();
  });

  it("shows a tenant key nothing of another tenant", async () => {
    for (const path of ["/v1/tenants/apparel/pipeline", "/v1/tenants/apparel/plugins", "/v1/tenants/apparel/decisions", "/v1/tenants/apparel"]) {
      expected.add(`404 ${path}`);
    }
    expected.add("403 /v1/tenants");
    await page.goto(`${url}/console/#/t/apparel/pipeline`);
    await page.getByRole("alert").filter({ hasText: "not_found" }).waitFor();
    await page.goto(`${url}/console/#/t/apparel/decisions`);
    await page.getByRole("alert").filter({ hasText: "not_found" }).waitFor();
    await page.goto(`${url}/console/#/tenants/apparel`);
    await page.getByRole("alert").filter({ hasText: "not_found" }).waitFor();
    // Nor the operator's list: the header offers it no link, and the page refuses.
    assert.equal(await page.getByRole("link", { name: "Tenants" }).count(), 0);
    await page.goto(`${url}/console/#/tenants`);
    await page.getByRole("alert").filter({ hasText: "forbidden" }).waitFor();
    assert.deepEqual(problems, []);
  });
});
