// ESLint (flat config) for the client, its tests and the bench's Node driver (`make lint-js`).
// ESLint's recommended rules, the right globals per folder, and one local rule: each of these
// files opens with `// @ts-check`, so that tsconfig.json type-checks it.
import js from "@eslint/js";
import globals from "globals";

/** @type {import("eslint").Rule.RuleModule} */
const requireTsCheck = {
  meta: {
    type: "problem",
    docs: { description: "the file must start with `// @ts-check` (tsc type-checks those)" },
    messages: { missing: "Start this file with `// @ts-check`: `make lint-js` type-checks only files that do." },
    schema: [],
  },
  create(context) {
    return {
      Program() {
        const [first] = context.sourceCode.getAllComments();
        const ok = first?.type === "Line" && first.value.trim() === "@ts-check" && first.loc?.start.line === 1;
        if (!ok) context.report({ loc: { line: 1, column: 0 }, messageId: "missing" });
      },
    };
  },
};

// Run from the repository root with `--config static_web/eslint.config.js` (as `make lint-js`
// does): ESLint then resolves these patterns from there, so the harness's Node driver, outside
// this folder, is linted with the same rules.

export default [
  { ignores: ["static_web/dist/**", "**/node_modules/**"] },
  { ...js.configs.recommended },
  {
    languageOptions: { ecmaVersion: "latest", sourceType: "module" },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    plugins: { local: { rules: { "ts-check": requireTsCheck } } },
    rules: {
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
  { files: ["static_web/src/**/*.js"], languageOptions: { globals: { ...globals.browser } } },
  {
    files: ["static_web/test/**/*.js", "static_web/*.js", "static_web/*.mjs", "harness/node/**/*.mjs"],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ["static_web/src/**/*.js", "static_web/test/**/*.js", "harness/node/bench-*.mjs"],
    // negotiate.js is being changed for deployment by someone else: it gets its line there
    ignores: ["static_web/src/net/negotiate.js"],
    rules: { "local/ts-check": "error" },
  },
];
