// Lint rules chosen for defects this codebase has had or could have: a name that shadows a
// global (a class called ReferenceError once hid the built-in), a promise nobody awaits or
// hands to waitUntil, and values nobody reads. Formatting is Prettier's job, not ESLint's.
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".wrangler/", "worker-configuration.d.ts", "bench/results/", "test-results/", "**/*.mjs", "**/*.js"] },
  {
    files: ["**/*.ts"],
    languageOptions: {
      parser: tseslint.parser,
      // Two programs: the Worker (tsconfig.json) and the Node side: scripts, bench, CLI, e2e (tsconfig.node.json).
      parserOptions: { project: ["./tsconfig.json", "./tsconfig.node.json"], tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {
      "@typescript-eslint/no-shadow": [
        "error",
        {
          builtinGlobals: true,
          hoist: "functions",
          allow: [
            "name",
            "status",
            "event",
            "length",
            "self",
            "close",
            "stop",
            "print",
            "open",
            "origin",
            "parent",
            "top",
            "screen",
            "history",
            "location",
            "performance",
            "crypto",
            "navigator",
            "caches",
            "scheduler",
            "fetch",
          ],
        },
      ],
      "@typescript-eslint/no-floating-promises": ["error", { ignoreVoid: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
    },
  },
);
