#!/usr/bin/env node
// Makes a TypeScript plugin package a rulehost component; run by
// `rulehost build DIR` (rulehost-builder), which then records the plugin's
// identity in the component. Steps:
//   1. the package's TypeScript checked with its own tsconfig (tsc --noEmit);
//   2. an entry module that exports the contract's `rules` for the
//      package's default export (`definePlugin`), bundled with the SDK by
//      esbuild into one ES module (the host interface left as an import);
//   3. that module made a component of world `rulehost:plugin/plugin` by
//      the engine asked for: `spidermonkey`, componentize-js (StarlingMonkey,
//      pre-initialised with Wizer), or `quickjs`, componentize-qjs (QuickJS,
//      pre-initialised with Wizer) through the `rulehost-qjs` binary that
//      rulehost-builder passes as --qjs.
// Usage: componentize.mjs --package DIR --wit DIR --out FILE
//        [--engine spidermonkey|quickjs --qjs BINARY]
// Prints one JSON line: {"name", "version", "sdk", "engine"}.

import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { componentize } from "@bytecodealliance/componentize-js";
import { build } from "esbuild";

const { values } = parseArgs({
  options: {
    package: { type: "string" },
    wit: { type: "string" },
    out: { type: "string" },
    engine: { type: "string", default: "spidermonkey" },
    qjs: { type: "string" },
  },
});
for (const option of ["package", "wit", "out"]) {
  if (values[option] === undefined) fail(`--${option} is required`);
}
if (values.engine !== "spidermonkey" && values.engine !== "quickjs") {
  fail(`--engine ${values.engine}: the engines are spidermonkey and quickjs`);
}
if (values.engine === "quickjs" && values.qjs === undefined) fail("--engine quickjs needs --qjs");
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
// componentize-js gives the host interface as a namespace with `undefined`
// for a missing option; componentize-qjs as a default export with `null`,
// and its generator is snapshotted at build time, so each decision
// reseeds `Math.random` from its own seed.
const HOST = "rulehost:plugin/host@0.3.0";
const plugin = `import plugin from ${JSON.stringify(join(dir, main))};`;
const entry = (
  values.engine === "spidermonkey"
    ? [
        `import * as host from ${JSON.stringify(HOST)};`,
        `import { exportRules } from "@rulehost/sdk";`,
        plugin,
        `export const rules = exportRules(plugin, host);`,
      ]
    : [
        `import host from ${JSON.stringify(HOST)};`,
        `import { exportRules, seededRandom } from "@rulehost/sdk";`,
        plugin,
        `const services = { log: (level, message) => host.log(level, message), config: (key) => host.config(key) ?? undefined };`,
        `export const rules = exportRules(plugin, services, { begin: (seed) => { Math.random = seededRandom(seed); } });`,
      ]
).join("\n");
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
if (values.engine === "spidermonkey") {
  const { component } = await componentize(source, {
    witPath: resolve(values.wit),
    worldName: "plugin",
    disableFeatures: ["http", "fetch-event"],
  });
  await writeFile(values.out, component);
} else {
  const work = await mkdtemp(join(tmpdir(), "rulehost-qjs-"));
  try {
    const js = join(work, "plugin.js");
    await writeFile(js, source);
    const made = spawnSync(
      values.qjs,
      ["--wit", resolve(values.wit), "--world", "plugin", "--js", js, "--out", resolve(values.out)],
      { stdio: ["ignore", 2, 2] },
    );
    if (made.status !== 0) fail(`${manifest.name}: componentize-qjs failed (see above)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
const reported = { name: manifest.name, version: manifest.version, sdk: sdk.version, engine: values.engine };
process.stdout.write(`${JSON.stringify(reported)}\n`);
