import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import type { RunResource } from "../src/durable/run/run-view";
import { TERMINAL_RUN_STATUSES } from "../src/execution/statuses";

export const DEV_KEY = "crane_dev_key";
export const ADMIN_TOKEN = "test_admin_token";

/**
 * Calls the Worker's own fetch handler, as a client would over HTTP, with the dev tenant's API
 * key unless the request brings its own Authorization (or `key: null` asks for none).
 */
export function api(path: string, init: RequestInit & { json?: unknown; key?: string | null } = {}): Promise<Response> {
  const { json, key = DEV_KEY, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (key !== null && !headers.has("authorization")) headers.set("authorization", `Bearer ${key}`);
  if (json !== undefined) headers.set("content-type", "application/json");
  return exports.default.fetch(new Request(`http://crane.test/api/v1${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body }));
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

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES);

/** Polls the run until it reaches a terminal state (or `until` holds). */
export async function waitForRun(runId: string, until: (r: RunResource) => boolean = (r) => TERMINAL.has(r.status), timeoutMs = 20_000, key: string = DEV_KEY): Promise<RunResource> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(runId, key);
    if (until(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not get there in ${timeoutMs} ms: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 20));
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
