import { env, exports } from "cloudflare:workers";
import { expect, vi } from "vitest";
import type { ToolContext } from "../src/tools/tool-impl";
import type { RunResource } from "../src/durable/run/run-view";
import { TERMINAL_RUN_STATUSES } from "../src/execution/statuses";
import { rowOnAnyShard } from "./read-model";

export const DEV_KEY = "crane_dev_key";
const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES);

/** A short random tag that keeps one test's names (todo titles, upstream keys) apart from another's. */
export const uniq = () => crypto.randomUUID().slice(0, 8);

/** A pause between polls of something the test cannot wait on directly (never to let time pass: move the clock). */
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The budget for `vi.waitFor` on work the test cannot drive itself (a background D1 projection,
 * a message on a socket): a real time, generous because two cores shared by several test files
 * are slow at times. A wait that is met returns at once; only a wait that is never met takes it.
 */
export const SETTLE = { timeout: 10_000, interval: 10 } as const;

/** The context a queue tool gets from the consumer, for calling a tool directly. */
export function toolContext(overrides: Partial<ToolContext> & { envOverrides?: Partial<Env> } = {}): ToolContext {
  const { envOverrides, ...rest } = overrides;
  return {
    env: { ...env, ...envOverrides } as Env,
    run_id: "run_test",
    tenant: "dev",
    step_number: 1,
    attempt: 1,
    dispatch: 1,
    signal: new AbortController().signal,
    timeout_ms: 30_000,
    idempotency_key: `run_test:${crypto.randomUUID()}`,
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    span_id: "b7ad6b7169203331",
    ...rest,
  };
}
export const ADMIN_TOKEN = "test_admin_token";

/**
 * Calls the Worker's own fetch handler, as a client would over HTTP, with the dev tenant's API
 * key unless the request brings its own Authorization (or `key: null` asks for none).
 */
export async function api(path: string, init: RequestInit & { json?: unknown; key?: string | null } = {}): Promise<Response> {
  const { json, key = DEV_KEY, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (key !== null && !headers.has("authorization")) headers.set("authorization", `Bearer ${key}`);
  if (json !== undefined) headers.set("content-type", "application/json");
  const res = await exports.default.fetch(
    new Request(`http://crane.test/api/v1${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body }),
  );
  if (rest.method === "POST" && path.startsWith("/runs") && res.status < 300) track(res.clone(), headers.get("authorization"));
  return res;
}

/** Runs this test file started, with the credential that can cancel them: see settleRuns. */
const started = new Map<string, string>();

function track(res: Response, authorization: string | null): void {
  void res
    .json()
    .then((body) => {
      const id = (body as { run_id?: unknown }).run_id;
      if (typeof id === "string" && authorization) started.set(id, authorization);
    })
    .catch(() => {});
}

/**
 * Ends what a test file started before its environment is torn down: a run still in flight is
 * cancelled, and each run's D1 projection is waited for. Otherwise a queue consumer or a run
 * object would go on working (and logging) after the file's last test, and vitest would report
 * it as an error at teardown. Registered for every file in apply-migrations.ts.
 */
export async function settleRuns(): Promise<void> {
  const ids = [...started.entries()];
  started.clear();
  await Promise.all(
    ids.map(async ([id, authorization]) => {
      const get = await exports.default.fetch(new Request(`http://crane.test/api/v1/runs/${id}`, { headers: { authorization } }));
      if (get.status !== 200) return; // deleted, or its tenant's key was
      let run = (await get.json()) as RunResource;
      if (!TERMINAL.has(run.status)) {
        const cancel = await exports.default.fetch(new Request(`http://crane.test/api/v1/runs/${id}/cancel`, { method: "POST", headers: { authorization } }));
        if (cancel.status !== 200) return; // compensating, say: its end is not the file's to bring about
        run = (await cancel.json()) as RunResource;
      }
      // Only a run that has ended is sure to project its end; the wait for it then has a real budget.
      if (!TERMINAL.has(run.status)) return;
      await vi.waitFor(async () => {
        const row = await rowOnAnyShard<{ status: string }>("SELECT status FROM runs WHERE run_id = ?", id);
        expect(row?.status, `run ${id}'s D1 row`).toBe(run.status);
      }, SETTLE);
    }),
  );
}

export async function createRun(body: unknown, headers: Record<string, string> = {}): Promise<RunResource> {
  const res = await api("/runs", { method: "POST", json: body, headers });
  const data = (await res.json()) as RunResource & { error?: unknown };
  expect(res.status, JSON.stringify(data)).toBe(201);
  return data;
}

export async function getRun(runId: string, key: string = DEV_KEY): Promise<RunResource> {
  const res = await api(`/runs/${runId}`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as RunResource;
}

/** Polls the run until it reaches a terminal state (or `until` holds). */
export async function waitForRun(
  runId: string,
  until: (r: RunResource) => boolean = (r) => TERMINAL.has(r.status),
  timeoutMs = 20_000,
  key: string = DEV_KEY,
): Promise<RunResource> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(runId, key);
    if (until(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not get there in ${timeoutMs} ms: ${JSON.stringify(run)}`);
    await pause(20);
  }
}

export async function errorOf(res: Response): Promise<{ code: string; message: string; details?: unknown }> {
  const body = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
  expect(body.error.code).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

/** A new API key for `tenant`, made through the admin API; its id and secret. */
export async function newApiKey(tenant: string, name = "test key"): Promise<{ id: string; secret: string }> {
  const res = await api("/admin/keys", { method: "POST", json: { name, tenant }, key: ADMIN_TOKEN });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { key: { id: string }; secret: string };
  return { id: body.key.id, secret: body.secret };
}
