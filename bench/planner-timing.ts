/**
 * npm run bench:planner [-- --samples 2000]
 *
 * How long the rule planner takes over prompts nobody wrote down (test/planner-prompts.ts, the
 * property test's generators) plus the longest shapes at the 4,000-character limit: each prompt
 * is planned and its plan validated, as POST /plans does without a model. Each is timed three
 * times and the fastest counts (a garbage collection or a busy core only ever adds time). The
 * target is under 50 ms for every prompt; the script exits 1 if one is slower.
 */
import { build } from "esbuild";
import fc from "fast-check";
import os from "node:os";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { samples: { type: "string", default: "2000" } } });
const BUDGET_MS = 50;

// The planner's modules import without extensions (as the Worker's bundler resolves them), which
// Node's own loader does not: bundle them into one module first.
const bundled = await build({
  stdin: {
    contents: `export { planFromPrompt } from "./src/planner/rule-planner"; export { validatePlan } from "./src/planner/validate-plan"; export { anyPrompt } from "./test/planner-prompts";`,
    resolveDir: process.cwd(),
    loader: "ts",
  },
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
  logLevel: "error",
});
type Planner = {
  planFromPrompt(p: string): { ok: boolean; steps?: unknown[] };
  validatePlan(p: { steps: unknown[] }): unknown;
  anyPrompt: fc.Arbitrary<string>;
};
const planner = (await import(`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0]!.text).toString("base64")}`)) as Planner;

const plan = (prompt: string) => {
  const r = planner.planFromPrompt(prompt);
  if (r.ok) planner.validatePlan({ steps: r.steps! });
};

const LIMIT = 4000;
const worst = [",", " and ", " then ", "'a ", '"', "(", "1+", "add todos: a, ", "the first one and ", "double it then ", "sum of 1, "].map((u) =>
  u.repeat(Math.ceil(LIMIT / u.length)).slice(0, LIMIT),
);
const prompts = [...worst, ...fc.sample(planner.anyPrompt, Number(values.samples))];
for (const p of prompts.slice(0, 200)) plan(p); // warm up the JIT

const timings = prompts.map((prompt) => {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    plan(prompt);
    best = Math.min(best, performance.now() - t0);
  }
  return { prompt, ms: best };
});
timings.sort((a, b) => a.ms - b.ms);
const at = (q: number) => timings[Math.min(timings.length - 1, Math.floor(q * timings.length))]!.ms;
const slowest = timings.at(-1)!;
console.log(`Machine: ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores; Node ${process.version}`);
console.log(
  `${timings.length} prompts (${worst.length} at the ${LIMIT}-character limit): p50 ${at(0.5).toFixed(3)} ms, p99 ${at(0.99).toFixed(3)} ms, max ${slowest.ms.toFixed(3)} ms`,
);
console.log(`slowest: ${JSON.stringify(slowest.prompt.slice(0, 80))}${slowest.prompt.length > 80 ? "…" : ""} (${slowest.prompt.length} characters)`);
const over = timings.filter((t) => t.ms >= BUDGET_MS).length;
console.log(over ? `${over} prompts took ${BUDGET_MS} ms or more` : `every prompt under ${BUDGET_MS} ms`);
process.exit(over ? 1 : 0);
