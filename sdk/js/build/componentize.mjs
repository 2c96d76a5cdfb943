#!/usr/bin/env node
// Makes a TypeScript plugin package a rulehost component; run by
// `rulehost build DIR` (rulehost-builder), which then records the plugin's
// identity in the component. Steps:
//   1. the package's TypeScript checked with its own tsconfig (tsc --noEmit);
//   2. an entry module that exports the contract's `rules` for the
//      package's default export (`definePlugin`), bundled with the SDK by
//      esbuild into one ES module (the host interface left as an import);
//   3. that module made a component of world `rulehost:plugin/plugin` by
//      componentize-js (StarlingMonkey, pre-initialised with Wizer).
// Usage: componentize.mjs --package DIR --wit DIR --out FILE
// Prints one JSON line: {"name", "version", "sdk"}.

import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { componentize } from "@bytecodealliance/componentize-js";
import { build } from "esbuild";

const { values } = parseArgs({
  options: { package: { type: "string" }, wit: { type: "string" }, out: { type: "string" } },
});
for (const option of ["package", "wit", "out"]) {
  if (values[option] === undefined) fail(`--${option} is required`);
}
const dir = resolve(values.package);
const sdkDir = dirname(dirname(fileURLToPath(import.meta.url)));

function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

const manifest = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
const sdk = JSON.parse(await readFile(join(sdkDir, "package.json"), "utf8"));
if (typeof manifest.name !== "string" || typeof manifest.version !== "string") {
  fail(`${join(dir, "package.json")} needs a "name" and a "version": the host names the plugin by them`);
}
const main = manifest.main ?? "src/index.ts";

// 1. Type check, with the package's tsconfig and the SDK's compiler.
const tsc = createRequire(join(sdkDir, "package.json")).resolve("typescript/bin/tsc");
// tsc reports on stdout, which carries this script's answer: to stderr.
const checked = spawnSync(process.execPath, [tsc, "--noEmit", "-p", dir], { stdio: ["ignore", 2, 2] });
if (checked.status !== 0) fail(`${manifest.name}: the TypeScript does not type-check (see above)`);

// 2. One ES module: the plugin, the SDK and an entry exporting `rules`.
const HOST = "rulehost:plugin/host@0.3.0";
const entry = [
  `import * as host from ${JSON.stringify(HOST)};`,
  `import { exportRules } from "@rulehost/sdk";`,
  `import plugin from ${JSON.stringify(join(dir, main))};`,
  `export const rules = exportRules(plugin, host);`,
].join("\n");
const bundled = await build({
  stdin: { contents: entry, resolveDir: dir, sourcefile: "rulehost-entry.js", loader: "js" },
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  external: [HOST],
  write: false,
  logLevel: "error",
  legalComments: "none",
});
const source = bundled.outputFiles[0].text;

// 3. The component. Clocks, randomness and stdio stay: the host gives every
// component WASI with the decision's frozen `now`, a generator seeded from
// the decision's seed, and stdout/stderr captured into the decision's log.
// Nothing of HTTP is linked.
const { component } = await componentize(source, {
  witPath: resolve(values.wit),
  worldName: "plugin",
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(values.out, component);
process.stdout.write(`${JSON.stringify({ name: manifest.name, version: manifest.version, sdk: sdk.version })}\n`);
