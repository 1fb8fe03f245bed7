/**
 * npm run soak [-- --runs 300 --kill-after-ms 2500 --approvals 100 --compensations 50 --parents 0 --limits 5 --cap 0 --webhooks --wait-ms 600000 --port 8799]
 *
 * Starts `wrangler dev` on a fresh local state with a local slow upstream, submits runs that add
 * a todo and call the slow upstream, SIGKILLs the runtime while they are in flight, starts it
 * again on the same state, and checks the promise: every accepted run reaches a terminal state,
 * every todo exists exactly once, and the D1 history agrees with every run object. With
 * --compensations N, N more runs add a todo and then fail (a slow 404): across the crash each is
 * compensated exactly once (its todo deleted by its own undo), and nothing else is deleted.
 * With --approvals N it first starts N runs that wait for a person's approval (each then adds a
 * todo): they are waiting when the runtime is killed, still waiting after the restart, and are
 * then approved (half through the decision route, half through decision links), and must complete.
 * With --parents N, N more runs each start two child runs (Run.start, waited for; each child adds a
 * todo and calls the slow upstream) and collect their results: across the crash every parent and
 * every child ends, no child is left running, each step made exactly one child and each child's
 * todo exists once.
 * With --limits N (default 5), 4N more runs sit at the byte limits in 3-byte characters
 * (scripts/soak-limits.ts): outputs just under 256 KiB (they complete) and just over (they must fail
 * with output_too_large, an expected ending), and inputs just under and just over the queue
 * message's 96 KiB (both complete, the echo says the whole input arrived).
 * With --cap N every tenant may have N runs in flight (MAX_RUNS_IN_FLIGHT): submissions answered 429
 * are retried with the same Idempotency-Key, parents (--parents, 20 by default under a cap) start
 * their children under their own slot, and the approval runs, which hold a slot while they wait,
 * are spread over tenants of their own so that all of them can wait at once.
 * With --agents N, N more runs are Agent.run steps, each with its own scripted model
 * (scripts/soak-agents.ts): across the crash each completes, no recorded model call is made again,
 * and each todo its model asked for exists exactly once.
 * With --webhooks every tenant subscribes to its runs' ends at a local receiver (scripts/soak-webhooks.ts),
 * which refuses some first attempts: each ended run's subscribed event must arrive, signed, at least once.
 * After the restart it prints the recovery (scripts/soak-recovery.ts): how long from the restart
 * until every run in flight at the kill had ended, and the longest gap the crash made in a run's log.
 * Exits non-zero on any loss, duplicate or disagreement.
 */
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { serverUrl, startUpstream } from "../test/upstream/server.ts";
import { mcpMockUrl, startMockMcp } from "../test/mcp/mock-mcp-server.ts";
import { applyMigrations, authHeaders, killRuntime, startRuntime, tenantKey, type Runtime } from "./local-runtime.ts";
import { checkLimitRun, LIMIT_KINDS, limitRuns, summarizeLimits, type LimitKind } from "./soak-limits.ts";
import { measureRecovery } from "./soak-recovery.ts";
import { checkFamilies, compareHistory, readTodos } from "./soak-ledger.ts";
import { agentRuns, agentsOk, describeAgents, inspectAgentRuns, prepareAgents, summarizeAgents, warmUpAgents, type AgentSpec } from "./soak-agents.ts";
import { scriptedModelUrl, startScriptedModel } from "../test/llm/scripted-model.ts";
import { TERMINAL_RUN_STATUSES } from "../src/execution/statuses.ts";
import { WebhookSoak } from "./soak-webhooks.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "300" },
    "kill-after-ms": { type: "string", default: "2500" },
    port: { type: "string", default: "8799" },
    concurrency: { type: "string", default: "16" },
    compensations: { type: "string", default: "50" },
    approvals: { type: "string", default: "100" },
    // No default: 0, or 20 under a cap.
    parents: { type: "string" },
    limits: { type: "string", default: "5" },
    agents: { type: "string", default: "0" },
    cap: { type: "string", default: "0" },
    webhooks: { type: "boolean", default: false },
    "webhook-wait-ms": { type: "string", default: "180000" },
    "wait-ms": { type: "string", default: "600000" },
  },
});
const COMPENSATIONS = Number(values.compensations);
const RUNS = Number(values.runs);
const KILL_AFTER = Number(values["kill-after-ms"]);
const PORT = Number(values.port);
const CONCURRENCY = Number(values.concurrency);
const APPROVALS = Number(values.approvals);
const CAP = Number(values.cap);
const PARENTS = values.parents !== undefined ? Number(values.parents) : CAP > 0 ? 20 : 0;
const LIMITS = Number(values.limits);
const WAIT_MS = Number(values["wait-ms"]);
const AGENTS = Number(values.agents);
const CHILDREN_PER_PARENT = 2;
const STATE = ".wrangler/soak-state";
const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES);

interface RunInfo {
  key: string;
  title: string;
  body: string;
  run_id?: string;
  /** It adds a todo and then fails: it must end failed, with that todo undone. */
  saga?: boolean;
  /** It starts child runs (their todos are titled `${title} child ${j}`) and adds none itself. */
  parent?: boolean;
  /** It sits at a byte limit (soak-limits.ts) and adds no todo. */
  limit?: LimitKind;
  chars?: number;
  /** An Agent.run step whose model asks for todos (soak-agents.ts); its title names no todo. */
  agent?: AgentSpec;
  /** Its tenant's key (the dev tenant's unless said). */
  auth?: Record<string, string>;
}
const authOf = (r: { auth?: Record<string, string> }) => r.auth ?? authHeaders;

const upstream = await startUpstream();
const upstreamUrl = serverUrl(upstream);
rmSync(STATE, { recursive: true, force: true });
applyMigrations(STATE);
// The MCP server the input-limit runs call (its read-only echo); on loopback, so listed.
const mcp = await startMockMcp();
// The agents' model server: each run names its own model, LLM_MODEL only makes a model configured.
const model = AGENTS > 0 ? await startScriptedModel() : undefined;
const vars: Record<string, string> = {
  HTTP_TOOL_ALLOWLIST: "127.0.0.1:*",
  ...(CAP > 0 ? { MAX_RUNS_IN_FLIGHT: String(CAP) } : {}),
  ...(model ? { LLM_BASE_URL: `${scriptedModelUrl(model)}/v1`, LLM_MODEL: "soak-agent-default" } : {}),
};
// Unlimited: the soak test is about crashes, not about one client's rate limit (nor its run cap, unless --cap).
let rt: Runtime = await startRuntime({ port: PORT, persistTo: STATE, vars, unlimited: true });
if (LIMITS > 0) {
  const res = await fetch(`${rt.url}/api/v1/mcp-servers`, {
    method: "POST",
    headers: { ...authHeaders, "content-type": "application/json" },
    body: JSON.stringify({ name: "soak", url: `${mcpMockUrl(mcp)}/s/soak/mcp` }),
  });
  if (res.status !== 201) throw new Error(`registering the soak's MCP server answered ${res.status}: ${await res.text()}`);
}
// Subscribed before any run is made; run.waiting and run.cancelled are not: none of those may arrive.
const hooks = values.webhooks ? await WebhookSoak.start() : undefined;
await hooks?.subscribe(rt.url, authHeaders, ["run.completed", "run.failed"]);

const runs: RunInfo[] = Array.from({ length: RUNS }, (_, i) => {
  const title = `soak todo ${i}`;
  const plan = {
    steps: [
      { step_number: 1, tool: "TodoStore.add", input: { title } },
      { step_number: 2, tool: "Http.get", input: { url: `${upstreamUrl}/ok?delay_ms=${200 + (i % 5) * 100}&run=${i}` } },
      { step_number: 3, tool: "Calculator.evaluate", input: { expression: `{{steps.1.output.todo.id}} * 0 + ${i}` }, depends_on: [1, 2] },
    ],
  };
  return { key: `soak-${i}`, title, body: JSON.stringify({ plan, options: { retry: { max_attempts: 5, initial_delay_ms: 200 } } }) };
});
// Interleaved with the others, so the kill finds them at every stage: adding, failing, undoing.
for (let i = 0; i < COMPENSATIONS; i++) {
  const title = `soak saga ${i}`;
  const plan = {
    steps: [
      { step_number: 1, tool: "TodoStore.add", input: { title } },
      { step_number: 2, tool: "Http.get", input: { url: `${upstreamUrl}/status/404?delay_ms=${100 + (i % 5) * 100}&saga=${i}` }, depends_on: [1] },
    ],
  };
  const body = JSON.stringify({ plan, options: { retry: { max_attempts: 5, initial_delay_ms: 200 } } });
  runs.splice(Math.min(runs.length, i * 6), 0, { key: `soak-saga-${i}`, title, body, saga: true });
}

// Parents of two children each, interleaved too, so the kill finds families at every stage.
const childTitle = (parent: string, j: number) => `${parent} child ${j}`;
for (let i = 0; i < PARENTS; i++) {
  const title = `soak parent ${i}`;
  const childPlan = (j: number) => ({
    steps: [
      { step_number: 1, tool: "TodoStore.add", input: { title: childTitle(title, j) } },
      { step_number: 2, tool: "Http.get", input: { url: `${upstreamUrl}/ok?delay_ms=${200 + ((i + j) % 5) * 100}&parent=${i}&child=${j}` } },
      { step_number: 3, tool: "Calculator.evaluate", input: { expression: `{{steps.1.output.todo.id}} * 0 + ${j}` }, depends_on: [1, 2] },
    ],
  });
  const plan = {
    steps: [
      ...Array.from({ length: CHILDREN_PER_PARENT }, (_, j) => ({ step_number: j + 1, tool: "Run.start", input: { plan: childPlan(j) } })),
      {
        step_number: CHILDREN_PER_PARENT + 1,
        tool: "Run.collect",
        input: { values: Array.from({ length: CHILDREN_PER_PARENT }, (_, j) => `{{steps.${j + 1}.output.result}}`) },
        depends_on: Array.from({ length: CHILDREN_PER_PARENT }, (_, j) => j + 1),
      },
    ],
  };
  const body = JSON.stringify({ plan, options: { retry: { max_attempts: 5, initial_delay_ms: 200 } } });
  runs.splice(Math.min(runs.length, i * 4 + 2), 0, { key: `soak-parent-${i}`, title, body, parent: true });
}

// Runs at the byte limits, interleaved too.
for (const [i, r] of limitRuns(LIMITS, upstreamUrl, "mcp.soak.lookup").entries()) runs.splice(Math.min(runs.length, i * 5 + 3), 0, r);

// Agent runs, interleaved too, so the kill finds them at every turn.
const agents = agentRuns(AGENTS);
const requestTimes = model ? await prepareAgents(model, scriptedModelUrl(model), agents) : new Map();
for (const [i, r] of agents.entries()) runs.splice(Math.min(runs.length, i * 3 + 1), 0, r);

const parents = runs.filter((r) => r.parent);
const atLimits = runs.filter((r) => r.limit);

// Runs that wait for approval before they add their todo; a wait far longer than the soak.
const approvalRuns: RunInfo[] = Array.from({ length: APPROVALS }, (_, i) => {
  const title = `soak approved todo ${i}`;
  const plan = {
    steps: [
      { step_number: 1, tool: "Human.approve", input: { message: `Add "${title}"?`, timeout_seconds: 3600 } },
      { step_number: 2, tool: "TodoStore.add", input: { title }, depends_on: [1] },
    ],
  };
  return { key: `soak-approval-${i}`, title, body: JSON.stringify({ plan }) };
});
const allRuns = [...runs, ...approvalRuns];

// Under a cap, a waiting approval run holds one of its tenant's slots: spread them over tenants of
// their own, CAP to a tenant, so every one of them can wait at the kill.
if (CAP > 0) {
  for (let t = 0; t * CAP < approvalRuns.length; t++) {
    const auth = await tenantKey(rt, `soak-approvals-${t}`);
    await hooks?.subscribe(rt.url, auth, ["run.completed"]);
    for (const r of approvalRuns.slice(t * CAP, (t + 1) * CAP)) r.auth = auth;
  }
}

/**
 * Submits with the run's Idempotency-Key; a crash mid-request is retried safely with the same key,
 * and so is a 429 at the tenant's cap (after its Retry-After, at most a second: the soak measures
 * the runtime, and a slot frees within a second or so).
 */
async function submit(run: RunInfo): Promise<boolean> {
  try {
    let res: Response;
    for (;;) {
      res = await fetch(`${rt.url}/api/v1/runs`, {
        method: "POST",
        body: run.body,
        headers: { ...authOf(run), "content-type": "application/json", "idempotency-key": run.key },
      });
      if (res.status !== 429) break;
      capRefusals++;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, Math.min(1000, Number(res.headers.get("retry-after") ?? 1) * 1000)));
    }
    if (res.status !== 201 && res.status !== 200) throw new Error(`POST /runs answered ${res.status}: ${await res.text()}`);
    run.run_id = ((await res.json()) as { run_id: string }).run_id;
    return true;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("POST /runs answered")) throw err;
    return false; // connection refused or reset: the runtime is down
  }
}

let capRefusals = 0;

async function submitAll(list: RunInfo[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < list.length) {
        const run = list[next++]!;
        await submit(run);
      }
    }),
  );
}

// The waiting runs go first, so every one of them is waiting when the runtime is killed.
for (let round = 0; approvalRuns.some((r) => !r.run_id) && round < 5; round++) await submitAll(approvalRuns.filter((r) => !r.run_id));
const waitingAtKill = approvalRuns.filter((r) => r.run_id).length;
if (model) await warmUpAgents(rt.url, scriptedModelUrl(model), authHeaders);
const started = Date.now();
const submitting = submitAll(runs);
await new Promise((r) => setTimeout(r, KILL_AFTER));
const killedAt = Date.now();
await killRuntime(rt, "SIGKILL");
const acceptedBeforeKill = runs.filter((r) => r.run_id).length;
await submitting;
console.log(`killed the runtime with SIGKILL after ${Date.now() - started} ms; ${acceptedBeforeKill} runs accepted before the kill`);

rt = await startRuntime({ port: PORT, persistTo: STATE, vars, unlimited: true });
const restartedAt = Date.now();
console.log(`restarted on the same local state, ${restartedAt - killedAt} ms after the kill`);
// Runs whose POST never got an answer are submitted again with the same Idempotency-Key.
for (let round = 0; allRuns.some((r) => !r.run_id) && round < 5; round++) await submitAll(allRuns.filter((r) => !r.run_id));

async function getJson<T>(path: string, auth: Record<string, string> = authHeaders): Promise<T> {
  const res = await fetch(`${rt.url}/api/v1${path}`, { headers: auth });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function post(path: string, auth: Record<string, string>, init: RequestInit = {}): Promise<Response> {
  return fetch(`${rt.url}${path}`, { method: "POST", ...init, headers: { ...auth, "content-type": "application/json", ...init.headers } });
}

/** Approves one waiting run: even ones through the decision route, odd ones through a decision link's page. */
async function approve(run: RunInfo, i: number): Promise<boolean> {
  if (i % 2 === 0)
    return (await post(`/api/v1/runs/${run.run_id}/steps/1/decision`, authOf(run), { body: JSON.stringify({ decision: "approve" }) })).status === 200;
  const issued = await post(`/api/v1/runs/${run.run_id}/steps/1/decision-link`, authOf(run));
  if (issued.status !== 201) return false;
  const { approve_url } = (await issued.json()) as { approve_url: string };
  const page = await fetch(`${rt.url}${new URL(approve_url).pathname}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "",
  });
  return page.status === 200;
}

// The waits survived the crash: every approval run is still waiting, then each is approved once.
let waitingAfterRestart = 0;
let approved = 0;
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < approvalRuns.length) {
      const i = next++;
      const run = approvalRuns[i]!;
      if (!run.run_id) continue;
      if ((await getJson<{ status: string }>(`/runs/${run.run_id}`, authOf(run))).status === "waiting") waitingAfterRestart++;
      if (await approve(run, i)) approved++;
    }
  }),
);
console.log(`${waitingAfterRestart} of ${approvalRuns.length} approval runs still waiting after the restart; ${approved} approved`);

const statuses = new Map<string, string>();
// Long enough for a step lost in the crash to be retried when its lease ends.
const deadline = Date.now() + WAIT_MS;
while (Date.now() < deadline) {
  const pending = allRuns.filter((r) => r.run_id && !TERMINAL.has(statuses.get(r.run_id) ?? ""));
  if (pending.length === 0) break;
  await Promise.all(pending.slice(0, 64).map(async (r) => statuses.set(r.run_id!, (await getJson<{ status: string }>(`/runs/${r.run_id}`, authOf(r))).status)));
  await new Promise((r) => setTimeout(r, 250));
}

// D1 history against the run objects, tenant by tenant.
const mismatches = await compareHistory(
  rt.url,
  allRuns.map((r) => ({ run_id: r.run_id, auth: authOf(r) })),
  statuses,
);
const { family, children } = await checkFamilies(
  rt.url,
  parents.map((p) => ({ run_id: p.run_id, auth: authOf(p) })),
  CHILDREN_PER_PARENT,
  TERMINAL,
);

// The runs at the byte limits ended as their limit says, and how near the limit each was.
const limitChecks: { limit: LimitKind; check: ReturnType<typeof checkLimitRun> }[] = [];
for (const r of atLimits.filter((x) => x.run_id)) {
  const check = checkLimitRun({ ...r, limit: r.limit!, chars: r.chars! }, await getJson(`/runs/${r.run_id}`));
  if (!check.ok) console.log(`at the limit: ${r.key} (${r.run_id}) ended wrong: ${check.why}`);
  limitChecks.push({ limit: r.limit!, check });
}
const limits = summarizeLimits(limitChecks);

// The approval runs wait for a person by design; every other run (and child) in flight at the kill counts.
const recovery = await measureRecovery(
  rt.url,
  [...runs.filter((r) => r.run_id).map((r) => ({ run_id: r.run_id!, auth: authOf(r) })), ...children],
  killedAt,
  restartedAt,
);
const agentFindings = await inspectAgentRuns(
  { baseUrl: rt.url, modelUrl: model ? scriptedModelUrl(model) : "", times: requestTimes, killedAt },
  runs.map((r) => ({ ...r, auth: authOf(r) })),
);
const webhooks = await hooks?.check(rt.url, [...allRuns.map((r) => ({ run_id: r.run_id, auth: authOf(r) })), ...children], Number(values["webhook-wait-ms"]));
await killRuntime(rt);
hooks?.close();

const todos = readTodos(STATE);
const plain = allRuns.filter((r) => !r.saga && !r.parent && !r.limit && !r.agent);
const agentSummary = summarizeAgents(agents, agentFindings, (title) => todos.get(title)?.made ?? 0);
const sagas = runs.filter((r) => r.saga);

const counts = {
  submitted: allRuns.length,
  accepted: allRuns.filter((r) => r.run_id).length,
  completed: plain.filter((r) => statuses.get(r.run_id ?? "") === "completed").length,
  failed: plain.filter((r) => statuses.get(r.run_id ?? "") === "failed").length,
  lost: allRuns.filter((r) => !r.run_id || !TERMINAL.has(statuses.get(r.run_id) ?? "")).length,
  duplicated_effects: allRuns.filter((r) => (todos.get(r.title)?.made ?? 0) > 1).length,
  missing_effects: plain.filter((r) => statuses.get(r.run_id ?? "") === "completed" && (todos.get(r.title)?.n ?? 0) !== 1).length,
  // Each saga run failed, and its one todo was deleted by its own undo and nothing else.
  sagas_failed: sagas.filter((r) => statuses.get(r.run_id ?? "") === "failed").length,
  sagas_undone_once: sagas.filter((r) => todos.get(r.title)?.made === 1 && todos.get(r.title)?.undone === 1).length,
  wrongly_deleted: plain.filter((r) => (todos.get(r.title)?.made ?? 0) !== (todos.get(r.title)?.n ?? 0)).length,
  history_mismatches: mismatches.length,
  approval_runs: approvalRuns.length,
  waiting_at_kill: waitingAtKill,
  waiting_after_restart: waitingAfterRestart,
  approved,
  parents: parents.length,
  ...family,
  children_todos_once: parents.reduce(
    (n, p) => n + Array.from({ length: CHILDREN_PER_PARENT }, (_, j) => todos.get(childTitle(p.title, j))?.made === 1).filter(Boolean).length,
    0,
  ),
  approval_runs_completed_once: approvalRuns.filter((r) => statuses.get(r.run_id ?? "") === "completed" && todos.get(r.title)?.n === 1).length,
  cap: CAP || "none",
  cap_refusals_retried: capRefusals,
  ...limits,
  ...(AGENTS > 0 ? agentSummary : {}),
  ...webhooks?.counts,
};
console.table(counts);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
console.log(
  `recovery: ${recovery.in_flight_at_kill} runs in flight at the kill; every one had ended ${seconds(recovery.recovered_ms)} after the restart; ` +
    `per-run stall max ${seconds(recovery.max_stall_ms)}, median ${seconds(recovery.median_stall_ms)}` +
    (recovery.worst ? ` (longest: ${recovery.worst.run_id}, ${recovery.worst.before} → ${recovery.worst.after})` : ""),
);
for (const m of mismatches.slice(0, 10)) console.log("mismatch:", m);
for (const m of webhooks?.missing.slice(0, 10) ?? []) console.log("webhook never received:", m);
if (AGENTS > 0) for (const line of describeAgents(agentSummary, agentFindings)) console.log(line);
upstream.close();
mcp.close();
model?.close();
const approvalsOk = [counts.waiting_at_kill, counts.waiting_after_restart, counts.approved, counts.approval_runs_completed_once].every((n) => n === APPROVALS);
const expectedChildren = parents.length * CHILDREN_PER_PARENT;
const familiesOk =
  counts.parents_completed === parents.length &&
  [counts.children, counts.children_ended, counts.steps_with_one_child, counts.children_told_parent, counts.children_todos_once].every(
    (n) => n === expectedChildren,
  );
const ok =
  counts.lost === 0 &&
  counts.duplicated_effects === 0 &&
  counts.missing_effects === 0 &&
  counts.history_mismatches === 0 &&
  counts.failed === 0 &&
  counts.sagas_failed === sagas.length &&
  counts.sagas_undone_once === sagas.length &&
  counts.wrongly_deleted === 0 &&
  approvalsOk &&
  familiesOk &&
  (AGENTS === 0 || agentsOk(agentSummary)) &&
  (webhooks?.ok ?? true) &&
  LIMIT_KINDS.every((k) => limits[`${k}_as_expected`] === LIMITS);
console.log(ok ? "soak: OK" : "soak: FAILED");
process.exit(ok ? 0 : 1);
