import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launchChromium } from "./browser.ts";
import { expectConformingTraffic } from "./conformance.ts";

// A schedule under a real `wrangler dev`: its object's alarm fires on the runtime's own clock and
// starts runs, which the API, the CLI and the console all show.
const url = inject("craneUrl");
const exec = promisify(execFile);
let browser: Browser;
let scheduleId: string | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  // A schedule left behind by a failed assertion would start a run every 2 s in the files after this one.
  if (scheduleId) await crane("schedules", "delete", scheduleId);
  await expectConformingTraffic(10);
});

async function crane(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = { ...process.env, CRANE_API_KEY: "crane_dev_key" };
    const { stdout, stderr } = await exec(process.execPath, ["bin/crane.js", "--url", url, ...args], { timeout: 60_000, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}/api/v1${path}`, { ...init, headers: { authorization: "Bearer crane_dev_key", "content-type": "application/json" } });
  return { status: res.status, body: (res.status === 204 ? null : await res.json()) as T };
}

interface Occurrence {
  run_id: string | null;
  scheduled_for: string;
  status: string;
}

describe("a schedule every 2 seconds", () => {
  it("starts runs on the runtime's own alarms, shown by the API, the CLI and the console, until it is deleted", async () => {
    const name = `e2e every 2 s ${crypto.randomUUID().slice(0, 6)}`;
    const created = await crane("--json", "schedules", "create", "*/2 * * * * *", "calculate 20 + 22", "--name", name);
    expect(created.code, created.stderr).toBe(0);
    const { schedule_id: id, next_run_at } = JSON.parse(created.stdout) as { schedule_id: string; next_run_at: string };
    scheduleId = id;
    expect(new Date(next_run_at).getUTCSeconds() % 2).toBe(0);

    // Two occurrences that started runs (polled: the runtime's clock decides when they come).
    let recent: Occurrence[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      recent = (await api<{ recent_runs: Occurrence[] }>(`/schedules/${id}`)).body.recent_runs;
      if (recent.filter((r) => r.run_id).length >= 2) break;
    }
    const started = recent.filter((r) => r.run_id);
    expect(started.length, JSON.stringify(recent)).toBeGreaterThanOrEqual(2);
    expect(new Set(started.map((r) => r.scheduled_for)).size).toBe(started.length);
    for (const o of started.slice(0, 2)) {
      expect(new Date(o.scheduled_for).getUTCSeconds() % 2).toBe(0);
      const run = (await api<{ schedule_id: string; scheduled_for: string; status: string; result: unknown }>(`/runs/${o.run_id}`)).body;
      expect(run).toMatchObject({ schedule_id: id, scheduled_for: o.scheduled_for, status: "completed", result: 42 });
    }

    const listed = await crane("schedules");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+\\*/2 \\* \\* \\* \\* \\* UTC\\s+\\S+Z\\s+${name}`));

    // The console lists it with its next run and its recent runs, each a link to its run.
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.fill("#api-key", "crane_dev_key");
    await page.click("#use-key");
    const item = page.locator(`#schedules li[data-schedule="${id}"]`);
    await item.locator(".occurrences .badge[data-run]").first().waitFor();
    expect(await item.locator(".head").textContent()).toContain(name);
    expect(await item.locator(".next-run").textContent()).toMatch(/^next /);
    if (process.env.CRANE_E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.CRANE_E2E_SCREENSHOTS}/schedules.png` });
    await item.locator(".occurrences .badge[data-run]").first().click();
    // The newest occurrence may still be going when the console opens it: the page follows it live.
    await page.waitForSelector("#run-dag .node");
    await expect.poll(() => page.textContent("#run-status")).toBe("completed");
    await page.close();

    const paused = await crane("schedules", "pause", id);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain("next run  paused");
    const deleted = await crane("schedules", "delete", id);
    expect(deleted.code).toBe(0);
    expect((await api(`/schedules/${id}`)).status).toBe(404);
    scheduleId = undefined;
  });
});
