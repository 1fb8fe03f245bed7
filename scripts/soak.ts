/**
 * npm run soak [-- --runs 300 --kill-after-ms 2500 --approvals 100 --compensations 50 --parents 0 --port 8799]
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
 * Exits non-zero on any loss, duplicate or disagreement.
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { serverUrl, startUpstream } from "../test/upstream/server.ts";
import { applyMigrations, authHeaders, killRuntime, startRuntime, type Runtime } from "./local-runtime.ts";
import { TERMINAL_RUN_STATUSES } from "../src/execution/statuses.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "300" },
    "kill-after-ms": { type: "string", default: "2500" },
    port: { type: "string", default: "8799" },
    concurrency: { type: "string", default: "16" },
    compensations: { type: "string", default: "50" },
    approvals: { type: "string", default: "100" },
    parents: { type: "string", default: "0" },
  },
});
const COMPENSATIONS = Number(values.compensations);
const RUNS = Number(values.runs);
const KILL_AFTER = Number(values["kill-after-ms"]);
const PORT = Number(values.port);
const CONCURRENCY = Number(values.concurrency);
const APPROVALS = Number(values.approvals);
const PARENTS = Number(values.parents);
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
}

const upstream = await startUpstream();
const upstreamUrl = serverUrl(upstream);
rmSync(STATE, { recursive: true, force: true });
applyMigrations(STATE);
const vars = { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*" };
// Unlimited: the soak test is about crashes, not about one client's rate limit or run cap.
let rt: Runtime = await startRuntime({ port: PORT, persistTo: STATE, vars, unlimited: true });

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

const parents = runs.filter((r) => r.parent);

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

/** Submits with the run's Idempotency-Key; a crash mid-request is retried safely with the same key. */
async function submit(run: RunInfo): Promise<boolean> {
  try {
    const res = await fetch(`${rt.url}/api/v1/runs`, {
      method: "POST",
      body: run.body,
      headers: { ...authHeaders, "content-type": "application/json", "idempotency-key": run.key },
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`POST /runs answered ${res.status}: ${await res.text()}`);
    run.run_id = ((await res.json()) as { run_id: string }).run_id;
    return true;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("POST /runs answered")) throw err;
    return false; // connection refused or reset: the runtime is down
  }
}

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
const started = Date.now();
const submitting = submitAll(runs);
await new Promise((r) => setTimeout(r, KILL_AFTER));
await killRuntime(rt, "SIGKILL");
const killedAt = Date.now();
const acceptedBeforeKill = runs.filter((r) => r.run_id).length;
// The runs the kill may have caught in flight: how long after the restart each one ends is the
// recovery time (a step whose message the kill lost waits for its run object's watchdog).
const acceptedBeforeKillIds = new Set(runs.flatMap((r) => (r.run_id ? [r.run_id] : [])));
await submitting;
console.log(`killed the runtime with SIGKILL after ${Date.now() - started} ms; ${acceptedBeforeKill} runs accepted before the kill`);

const statuses = new Map<string, string>();
let restartedAt = 0;
/** When each run was first seen ended (ms after the restart). */
const endedAfterRestart = new Map<string, number>();
/** Polls the given runs' statuses until every one has ended or the deadline passes. */
async function pollUntilEnded(list: RunInfo[]): Promise<void> {
  // Generous: a lost step is sent again within seconds, but a backlog after the restart, or a step
  // left to its whole lease (about 95 s), must show up as a slow recovery rather than as lost runs.
  while (Date.now() < restartedAt + 180_000) {
    const pending = list.filter((r) => r.run_id && !TERMINAL.has(statuses.get(r.run_id) ?? ""));
    if (pending.length === 0) break;
    await Promise.all(
      pending.slice(0, 64).map(async (r) => {
        const { status } = await getJson<{ status: string }>(`/runs/${r.run_id}`);
        statuses.set(r.run_id!, status);
        if (TERMINAL.has(status) && !endedAfterRestart.has(r.run_id!)) endedAfterRestart.set(r.run_id!, Date.now() - restartedAt);
      }),
    );
    await new Promise((r) => setTimeout(r, 250));
  }
}

rt = await startRuntime({ port: PORT, persistTo: STATE, vars, unlimited: true });
restartedAt = Date.now();
const inFlightAtKill = runs.filter((r) => r.run_id !== undefined && acceptedBeforeKillIds.has(r.run_id));
console.log("restarted on the same local state");
// Watched from the restart on, while the rest of the soak goes on, so their recovery time is measured.
const recovering = pollUntilEnded(inFlightAtKill);
// Runs whose POST never got an answer are submitted again with the same Idempotency-Key.
for (let round = 0; allRuns.some((r) => !r.run_id) && round < 5; round++) await submitAll(allRuns.filter((r) => !r.run_id));

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(`${rt.url}/api/v1${path}`, { headers: authHeaders });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function post(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${rt.url}${path}`, { method: "POST", ...init, headers: { ...authHeaders, "content-type": "application/json", ...init.headers } });
}

/** Approves one waiting run: even ones through the decision route, odd ones through a decision link's page. */
async function approve(run: RunInfo, i: number): Promise<boolean> {
  if (i % 2 === 0) return (await post(`/api/v1/runs/${run.run_id}/steps/1/decision`, { body: JSON.stringify({ decision: "approve" }) })).status === 200;
  const issued = await post(`/api/v1/runs/${run.run_id}/steps/1/decision-link`);
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
      if ((await getJson<{ status: string }>(`/runs/${run.run_id}`)).status === "waiting") waitingAfterRestart++;
      if (await approve(run, i)) approved++;
    }
  }),
);
console.log(`${waitingAfterRestart} of ${approvalRuns.length} approval runs still waiting after the restart; ${approved} approved`);

await recovering;
await pollUntilEnded(allRuns);
const recovery = inFlightAtKill.map((r) => endedAfterRestart.get(r.run_id!) ?? Infinity).sort((a, b) => a - b);
const pct = (p: number) => recovery[Math.min(recovery.length - 1, Math.floor((p / 100) * recovery.length))] ?? 0;
const secs = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : "never");
console.log(
  `recovery: of ${recovery.length} runs accepted before the kill, after the restart (${secs(restartedAt - killedAt)} after the kill) ` +
    `p50 ${secs(pct(50))}, p90 ${secs(pct(90))}, last ${secs(recovery.at(-1) ?? 0)}; ` +
    [15, 30, 60, 90].map((s) => `${recovery.filter((ms) => ms > s * 1000).length} still running at ${s} s`).join(", "),
);
// The slowest to recover, told by its log: which step waited, and for what.
const slowest = inFlightAtKill.filter((r) => (endedAfterRestart.get(r.run_id!) ?? Infinity) > 15_000).slice(0, 3);
for (const r of slowest) {
  const page = await getJson<{ events: { type: string; at: string; data: { step?: number; error?: { code: string } } }[] }>(
    `/runs/${r.run_id}/events?limit=100`,
  );
  const told = page.events.map(
    (e) =>
      `${((Date.parse(e.at) - restartedAt) / 1000).toFixed(1)}s ${e.type}${e.data.step ? ` ${e.data.step}` : ""}${e.data.error ? ` ${e.data.error.code}` : ""}`,
  );
  console.log(`slow to recover: ${r.key} (${r.run_id}): ${told.join(", ")}`);
}

// D1 history against the run objects (the projection may trail the object by a retry).
let mismatches: string[] = [];
for (let i = 0; i < 20; i++) {
  const history = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const page: { runs: { run_id: string; status: string }[]; next_cursor: string | null } = await getJson(
      `/runs?limit=100${cursor ? `&cursor=${cursor}` : ""}`,
    );
    for (const r of page.runs) history.set(r.run_id, r.status);
    cursor = page.next_cursor;
  } while (cursor);
  mismatches = allRuns
    .map((r) => r.run_id)
    .filter((id): id is string => id !== undefined && history.get(id) !== statuses.get(id))
    .map((id) => `${id}: D1 ${history.get(id)} vs object ${statuses.get(id)}`);
  if (mismatches.length === 0) break;
  await new Promise((r) => setTimeout(r, 500));
}
// Families: every child of every parent ended (none left running), each Run.start step made exactly
// one child, each child names its parent, and the parent heard of each child's end.
const family = { parents_completed: 0, children: 0, children_ended: 0, steps_with_one_child: 0, children_told_parent: 0 };
for (const p of parents) {
  if (!p.run_id) continue;
  const run = await getJson<{ status: string; children: { run_id: string; step: number; status: string }[] }>(`/runs/${p.run_id}`);
  if (run.status === "completed") family.parents_completed++;
  for (let j = 1; j <= CHILDREN_PER_PARENT; j++) if (run.children.filter((c) => c.step === j).length === 1) family.steps_with_one_child++;
  for (const c of run.children) {
    family.children++;
    const child = await getJson<{ status: string; parent_run_id: string | null }>(`/runs/${c.run_id}`);
    if (TERMINAL.has(child.status) && child.parent_run_id === p.run_id) family.children_ended++;
    if (TERMINAL.has(c.status)) family.children_told_parent++;
  }
}
await killRuntime(rt);

const rows = JSON.parse(
  execFileSync(
    "wrangler",
    [
      "d1",
      "execute",
      "crane",
      "--local",
      "--persist-to",
      STATE,
      "--json",
      "--command",
      "SELECT title, sum(deleted_at IS NULL) AS n, sum(deleted_at IS NOT NULL AND deleted_by LIKE '%:undo') AS undone, count(*) AS made FROM todos GROUP BY title",
    ],
    {
      env: { ...process.env, CI: "true" },
      encoding: "utf8",
    },
  ),
) as { results: { title: string; n: number; undone: number; made: number }[] }[];
const todos = new Map(rows[0]!.results.map((r) => [r.title, r]));

const todoCounts = new Map(rows[0]!.results.map((r) => [r.title, r.n]));
const plain = allRuns.filter((r) => !r.saga && !r.parent);
const sagas = runs.filter((r) => r.saga);

const counts = {
  submitted: allRuns.length,
  accepted: allRuns.filter((r) => r.run_id).length,
  completed: plain.filter((r) => statuses.get(r.run_id ?? "") === "completed").length,
  failed: plain.filter((r) => statuses.get(r.run_id ?? "") === "failed").length,
  lost: allRuns.filter((r) => !r.run_id || !TERMINAL.has(statuses.get(r.run_id) ?? "")).length,
  duplicated_effects: allRuns.filter((r) => (todos.get(r.title)?.made ?? 0) > 1).length,
  missing_effects: plain.filter((r) => statuses.get(r.run_id ?? "") === "completed" && (todoCounts.get(r.title) ?? 0) !== 1).length,
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
  approval_runs_completed_once: approvalRuns.filter((r) => statuses.get(r.run_id ?? "") === "completed" && todoCounts.get(r.title) === 1).length,
};
console.table(counts);
for (const m of mismatches.slice(0, 10)) console.log("mismatch:", m);
upstream.close();
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
  familiesOk;
console.log(ok ? "soak: OK" : "soak: FAILED");
process.exit(ok ? 0 : 1);
