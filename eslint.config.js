// Lints the TypeScript of every npm workspace (the SDK, the plugins written
// with it) with typescript-eslint's strict type-checked rules.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/node_modules", "target/**"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allow: [{ from: "lib", name: "BigInt" }] }],
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreArrowShorthand: true }],
    },
  },
  // node:test's describe and it return promises the runner awaits itself.
  { files: ["**/test/**"], rules: { "@typescript-eslint/no-floating-promises": "off" } },
  { files: ["eslint.config.js"], ...tseslint.configs.disableTypeChecked },
  // The console: browser modules typed by JSDoc, whose globals (document,
  // fetch …) TypeScript checks against the DOM library.
  { files: ["host/console/**/*.js"], rules: { "no-undef": "off" } },
  // Build scripts in plain JavaScript, run by Node: linted without types.
  {
    files: ["**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { process: "readonly" } },
  },
);
