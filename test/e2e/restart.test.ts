import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./browser.ts";
import { e2ePortBase } from "./ports.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, authHeaders, killRuntime, startRuntime, type Runtime } from "../../scripts/local-runtime.ts";

// Clients across a server restart. This file runs its own `wrangler dev` (its own port and state),
// so killing it leaves the shared runtime alone. One run is watched at once by the CLI under a real
// terminal (tmux), by a plain EventSource in Chromium and by the console; the runtime is killed
// while the run waits on its timer, and started again on the same state. Each client must carry
// on by itself and end showing what the API says.
const PORT = e2ePortBase() + 2;
const STATE = ".wrangler/e2e-restart-state";
const TMUX = ["-L", `crane-e2e-${process.pid}`];
let rt: Runtime;
let browser: Browser;

const tmux = (...args: string[]) => execFileSync("tmux", [...TMUX, ...args], { encoding: "utf8" });
/** The terminal as a person sees it (with the scroll-back). */
const screen = (session = "cli") =>
  tmux("capture-pane", "-p", "-J", "-S", "-", "-t", session)
    .split("\n")
    .filter((l) => l.trim() !== "");

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${rt.url}/api/v1${path}`, { ...init, headers: { ...authHeaders, "content-type": "application/json", ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

beforeAll(async () => {
  rmSync(STATE, { recursive: true, force: true });
  applyMigrations(STATE);
  rt = await startRuntime({ port: PORT, persistTo: STATE, logLevel: "warn" });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  try {
    tmux("kill-server");
  } catch {
    // no session was started
  }
  if (rt) await killRuntime(rt);
});

/** Every named event type the stream sends, for EventSource listeners. */
const EVENT_TYPES = [
  "run.created",
  "plan.accepted",
  "run.started",
  "step.started",
  "step.succeeded",
  "step.retry_scheduled",
  "step.failed",
  "step.skipped",
  "step.deferred",
  "run.completed",
  "run.failed",
  "run.cancelled",
  "run.resumed",
];

/** Opens an EventSource in the page; what it receives collects in `window.received`. */
async function openEventSource(page: Page, streamPath: string): Promise<void> {
  await page.evaluate(
    ({ path, types }) => {
      const w = window as unknown as { received: { seq: number; type: string; lastEventId: string }[]; source: EventSource; errors: number };
      w.received = [];
      w.errors = 0;
      w.source = new EventSource(path);
      for (const type of types)
        w.source.addEventListener(type, (e) => {
          const m = e as MessageEvent<string>;
          w.received.push({ ...(JSON.parse(m.data) as { seq: number; type: string }), lastEventId: m.lastEventId });
        });
      w.source.addEventListener("error", () => (w.errors += 1));
    },
    { path: streamPath, types: EVENT_TYPES },
  );
}

describe("clients across a server restart", () => {
  it("the CLI under a TTY, a browser EventSource and the console follow one run through a restart, with no gap and no duplicate", async () => {
    const run = await api<{ run_id: string }>("/runs", { method: "POST", body: JSON.stringify({ prompt: "wait 15 seconds then calculate 2 + 2" }) });
    const { stream } = await api<{ stream: string }>(`/runs/${run.run_id}/watch-token`, { method: "POST" });

    // A plain EventSource on the page's own origin (the console page: its CSP allows 'self').
    const page = await browser.newPage();
    await page.goto(rt.url);
    await openEventSource(page, stream);

    // The console, watching the same run.
    const console = await browser.newPage();
    await console.goto(rt.url);
    await console.fill("#api-key", "crane_dev_key");
    await console.click("#use-key");
    await console.goto(`${rt.url}/#/runs/${run.run_id}`);
    await expect.poll(() => console.textContent("#run-status")).toBe("running");
    const consoleStates: string[] = [];
    const watchConn = setInterval(() => {
      console
        .textContent("#conn")
        .then((t) => t && consoleStates.push(t))
        .catch(() => {});
    }, 100);

    // The CLI in a real terminal: follow the run, then say how it exited.
    const cli = `${process.execPath} bin/crane.js --url ${rt.url} watch ${run.run_id}; echo EXIT=$?`;
    tmux("new-session", "-d", "-s", "cli", "-x", "160", "-y", "50", "-e", "CRANE_API_KEY=crane_dev_key", cli);
    tmux("set-option", "-t", "cli", "remain-on-exit", "on");
    await expect.poll(() => screen().some((l) => /step 1 Wait\.sleep/.test(l)), { timeout: 30_000 }).toBe(true);
    // And `crane run --follow`, which submits a run of its own and follows it the same way.
    const runFollow = `${process.execPath} bin/crane.js --url ${rt.url} run "wait 12 seconds then calculate 3 + 4" --follow --wait 0; echo EXIT=$?`;
    tmux("new-session", "-d", "-s", "run", "-x", "160", "-y", "50", "-e", "CRANE_API_KEY=crane_dev_key", runFollow);
    tmux("set-option", "-t", "run", "remain-on-exit", "on");
    await expect.poll(() => screen("run").some((l) => /step 1 Wait\.sleep/.test(l)), { timeout: 30_000 }).toBe(true);
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { received: { type: string }[] }).received.some((e) => e.type === "step.started")))
      .toBe(true);

    await killRuntime(rt, "SIGKILL");
    await expect.poll(() => screen().some((l) => l.includes("connection lost, retrying… (the run continues on the server)")), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => console.textContent("#conn"), { timeout: 30_000 }).toBe("reconnecting…");
    rt = await startRuntime({ port: PORT, persistTo: STATE, logLevel: "warn" });

    await expect.poll(() => screen().some((l) => l.startsWith("EXIT=")), { timeout: 60_000 }).toBe(true);
    const shown = screen();
    mkdirSync("test-results", { recursive: true });
    writeFileSync("test-results/cli-restart.txt", `${shown.join("\n")}\n`);
    expect(shown).toContain("EXIT=0");
    // The result once; the drop said once (not once per retry); each step's lines once.
    expect(shown.filter((l) => l.includes("run completed: 4"))).toHaveLength(1);
    expect(shown.filter((l) => l.includes("connection lost"))).toHaveLength(1);
    expect(shown.filter((l) => l === "reconnected")).toHaveLength(1);
    expect(shown.filter((l) => /^✓ step 1 Wait\.sleep/.test(l))).toHaveLength(1);
    expect(shown.filter((l) => /^✓ step 2 Calculator\.evaluate/.test(l))).toHaveLength(1);
    expect(shown[0]).toMatch(new RegExp(`^${run.run_id}  plan: 2 steps$`));
    await expect.poll(() => screen("run").some((l) => l.startsWith("EXIT=")), { timeout: 60_000 }).toBe(true);
    const followed = screen("run");
    writeFileSync("test-results/cli-run-follow-restart.txt", `${followed.join("\n")}\n`);
    expect(followed).toContain("EXIT=0");
    expect(followed.filter((l) => l.includes("run completed: 7"))).toHaveLength(1);
    expect(followed.filter((l) => l.includes("connection lost"))).toHaveLength(1);
    expect(followed.filter((l) => /^✓ step 2 Calculator\.evaluate/.test(l))).toHaveLength(1);

    // The EventSource reconnected by itself (same URL, same token, Last-Event-ID) and got every
    // event once, in order, up to the terminal one; then the stream ended and it stopped.
    const api_events = await api<{ events: { seq: number; type: string }[] }>(`/runs/${run.run_id}/events?after=0&limit=100`);
    await expect.poll(() => page.evaluate(() => (window as unknown as { source: EventSource }).source.readyState), { timeout: 30_000 }).toBe(2);
    const received = await page.evaluate(() => (window as unknown as { received: { seq: number; type: string; lastEventId: string }[] }).received);
    expect(received.map((e) => [e.seq, e.type])).toEqual(api_events.events.map((e) => [e.seq, e.type]));
    expect(received.every((e) => e.lastEventId === String(e.seq))).toBe(true);
    expect(received.at(-1)!.type).toBe("run.completed");
    expect(await page.evaluate(() => (window as unknown as { errors: number }).errors)).toBeGreaterThan(0); // it did lose the connection

    // The console ends showing exactly what the API says, with no error left on screen.
    const final = await api<{ status: string; result: unknown }>(`/runs/${run.run_id}`);
    expect(final).toMatchObject({ status: "completed", result: 4 });
    await expect.poll(() => console.textContent("#run-status"), { timeout: 30_000 }).toBe(final.status);
    clearInterval(watchConn);
    expect(await console.textContent("#run-outcome")).toBe(`result: ${JSON.stringify(final.result)}`);
    expect(await console.textContent("#conn")).toBe("");
    expect(await console.textContent("#message")).toBe("");
    expect(consoleStates).toContain("reconnecting…");
    expect(await console.locator('#run-dag .node[data-status="succeeded"]').count()).toBe(2);
    await expect.poll(() => console.getAttribute(`#runs li[data-run="${run.run_id}"] .badge`, "data-status")).toBe("completed");
    await console.screenshot({ path: "test-results/console-after-restart.png", fullPage: true });
  });
});
