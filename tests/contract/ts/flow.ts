// A TypeScript client of the API, typed from the served /openapi.json by
// openapi-typescript and calling it with openapi-fetch, as a brand's
// developer would: one decision on the demo coffee tenant, then its log
// entry. The end-to-end test `contract::` generates the types, type-checks
// this file against them (tsc --strict: a bare `{}` schema would make a
// field read below fail to compile) and runs it against a real server.
import createClient from "openapi-fetch";
import type { paths } from "rulehost-api";
import { readFileSync } from "node:fs";

const [baseUrl, key, samplePath] = process.argv.slice(2);
if (baseUrl === undefined || key === undefined || samplePath === undefined) {
  throw new Error("usage: flow.ts BASE_URL TENANT_KEY DECIDE_JSON");
}
const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });
const tenant = { path: { tenant: "coffee" } };

const request = JSON.parse(readFileSync(samplePath, "utf8")) as paths["/v1/tenants/{tenant}/decide"]["post"]["requestBody"]["content"]["application/json"];
const decided = await client.POST("/v1/tenants/{tenant}/decide", { params: tenant, body: request });
if (decided.data === undefined) {
  throw new Error(`decide: ${JSON.stringify(decided.error)}`);
}
const decision = decided.data;
const id = decision.decision_id;
if (typeof id !== "string") {
  throw new Error("a decision the server made has an id");
}

const logged = await client.GET("/v1/tenants/{tenant}/decisions/{id}", {
  params: { path: { tenant: "coffee", id } },
});
if (logged.data === undefined) {
  throw new Error(`the log entry: ${JSON.stringify(logged.error)}`);
}
const entry = logged.data;

console.log(
  JSON.stringify({
    decision_id: id,
    stage: decision.stage?.value ?? null,
    logged_id: entry.id,
    logged_stage: entry.decision.stage?.value ?? null,
    plugins: entry.plugins.map((p) => `${p.name}@${p.version}`),
    customer_id: entry.customer_id,
  }),
);
