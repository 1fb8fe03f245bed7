// Lint rules chosen for defects this codebase has had or could have: a name that shadows a
// global (a class called ReferenceError once hid the built-in), a promise nobody awaits or
// hands to waitUntil, and values nobody reads. Formatting is Prettier's job, not ESLint's.
import tseslint from "typescript-eslint";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

// The layers, as imports may run: down only. Each entry: the folder, and what its files may not import.
// When two entries match a file, the later one's options replace the earlier's, so a narrower
// entry repeats the broader one's groups (`also`).
const layer = (files, patterns, message, { ignores = [], also = [] } = {}) => ({
  files,
  ignores,
  rules: { "no-restricted-imports": ["error", { patterns: [{ group: patterns, message }, ...also] }] },
});

// Libraries that do I/O or belong to a host: nothing pure may load them.
const ioPackages = ["drizzle-orm", "drizzle-orm/*", "@modelcontextprotocol/*", "cloudflare:workers", "ai", "@ai-sdk/*", "hono", "hono/*"];
// What runs a queue tool, as opposed to what it is (its spec): each tool's execute.ts, gathered by
// implementations.ts, their types (tool-impl.ts), and the MCP modules that talk to servers and D1.
// Patterns match relative specifiers from anywhere ("./execute", "../../../tools/mcp/mcp-client").
const toolImplementations = [
  "**/execute",
  "**/implementations",
  "**/tool-impl",
  "**/mcp-client",
  "**/mcp-server-store",
  "**/mcp-registration",
  "**/mcp-errors",
  "**/header-crypto",
  "**/guarded-fetch",
];
const toolsLayer = { group: ["**/durable/**", "**/api/**", "**/queues/**"], message: "Tools know nothing of who runs them." };

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
  // No import cycle anywhere in the Worker's source (type-only imports do not count: they vanish at run time).
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js"] })],
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  layer(
    ["src/durable/run/domain/**/*.ts"],
    [
      ...ioPackages,
      "**/effects/*",
      "**/storage/*",
      "**/run-object",
      "**/run-client",
      "**/start-run",
      "**/api/**",
      "**/queues/**",
      "**/db/**",
      ...toolImplementations,
      "**/mcp-catalogue",
    ],
    "The run's domain is pure: it decides from the state and does no I/O (effects/ and storage/ do); it knows tools by their specs (src/tools/registry.ts), never by what runs them.",
  ),
  layer(
    ["src/durable/run/storage/**/*.ts"],
    ["**/effects/*", "**/run-object", "**/domain/decide", "**/domain/work"],
    "Storage holds the run's tables; it decides nothing and calls out to nothing.",
  ),
  layer(["src/durable/run/effects/**/*.ts"], ["**/run-object"], "Effects are used by the run object, never the other way round."),
  layer(
    ["src/api/**/*.ts"],
    ["**/durable/run/run-object", "**/durable/run/domain/decide", "**/durable/run/domain/work", "**/durable/run/domain/executors/*", "**/queues/**"],
    "Routes talk to a run through its contract (run-client.ts), never to its decider.",
  ),
  layer(
    ["src/queues/**/*.ts"],
    ["**/api/**", "**/durable/run/domain/**", "**/durable/run/effects/**", "**/durable/run/run-object"],
    "Consumers speak the step protocol (src/execution/) to the run object's contract.",
  ),
  layer(["src/tools/**/*.ts"], toolsLayer.group, toolsLayer.message),
  // A tool's spec is what the planner, the API and the run's domain import, so it stays as pure as
  // they are: every file of src/tools/ but the implementations and their helpers.
  // (test/node/domain-imports.test.ts follows the whole chain of imports from the domain as well.)
  layer(
    ["src/tools/**/*.ts"],
    [...ioPackages, ...toolImplementations, "**/db/**"],
    "A tool's spec stays pure: what runs it (execute.ts, implementations.ts, tool-impl.ts, the MCP client and store) is imported only by the queue consumer.",
    {
      ignores: [
        "src/tools/**/execute.ts",
        "src/tools/implementations.ts",
        "src/tools/tool-impl.ts",
        "src/tools/http-get/http-span.ts",
        "src/tools/mcp/{mcp-client,mcp-server-store,mcp-registration,mcp-errors,header-crypto,guarded-fetch,mcp-catalogue}.ts",
      ],
      also: [toolsLayer],
    },
  ),
  layer(
    ["src/execution/**/*.ts", "src/lib/**/*.ts"],
    ["**/durable/**", "**/api/**", "**/queues/**", "**/tools/**", "**/planner/**"],
    "The shared contracts and helpers sit below every other layer.",
  ),
);
