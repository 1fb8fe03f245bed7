import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { applyMigrations, killRuntime, LOCAL_ADMIN_TOKEN, startRuntime, type Runtime } from "../../scripts/local-runtime.ts";
import { registerScript, scriptRecord } from "../llm/scripted-model-client.ts";
import { scriptedModelUrl, startScriptedModel, type ScriptedTurn } from "../llm/scripted-model.ts";
import { launchChromium } from "./browser.ts";
import { REPORT_PATH, startConformanceProxy, type ConformanceReport } from "./conformance-proxy.ts";
import { e2ePortBase } from "./ports.ts";

// Agent.run under `wrangler dev`, with its model a local server speaking OpenAI chat completions
// (test/llm/scripted-model.ts), scripted per test by model name and streaming slowly (a chunk every
// 150 ms), so its text reaches the run as several llm.delta events. This runtime has its own state
// and LLM_BASE_URL (the suite's shared runtime keeps the rule planner): ports base + 8 (runtime)
// and base + 9 (the conformance proxy the clients talk to).
const base = e2ePortBase();
const STATE = ".wrangler/e2e-agent-state";
const KEY = "crane_dev_key";
let rt: Runtime | undefined;
let model: Server;
let modelUrl: string;
let url: string;
let proxy: Awaited<ReturnType<typeof startConformanceProxy>> | undefined;
let browser: Browser | undefined;

const TMUX = ["-L", `crane-agent-${process.pid}`];
const tmux = (...args: string[]) => execFileSync("tmux", [...TMUX, ...args], { encoding: "utf8" });
const screen = (session: string) =>
  tmux("capture-pane", "-p", "-J", "-S", "-", "-t", session)
    .split("\n")
    .filter((l) => l.trim() !== "");

beforeAll(async () => {
  model = await startScriptedModel();
  modelUrl = scriptedModelUrl(model);
  rmSync(STATE, { recursive: true, force: true });
  applyMigrations(STATE);
  rt = await startRuntime({
    port: base + 8,
    persistTo: STATE,
    logLevel: "warn",
    vars: {
      HTTP_TOOL_ALLOWLIST: "127.0.0.1:*",
      LLM_BASE_URL: `${modelUrl}/v1`,
      LLM_MODEL: "e2e-agent-default",
      // The budget tests: a priced model, and a call the tenant's cap turned away looks again after 1 s.
      LLM_PRICES: JSON.stringify({ "e2e-priced": { input_per_million: 1000, output_per_million: 2000 } }),
      LLM_BUDGET_RECHECK_MS: "1000",
    },
  });
  proxy = await startConformanceProxy(rt.url, base + 9);
  url = proxy.url;
});

afterAll(async () => {
  try {
    tmux("kill-server");
  } catch {
    // no terminal was started
  }
  await browser?.close();
  // Read the proxy's report, then stop everything, then check it: a failed check must not leave a runtime behind.
  const report = proxy ? ((await (await fetch(`${url}${REPORT_PATH}`)).json()) as ConformanceReport) : undefined;
  if (proxy) {
    await new Promise((resolve) => proxy!.server.close(resolve));
    proxy.server.closeAllConnections();
  }
  if (rt) await killRuntime(rt);
  model?.close();
  // Every answer the clients got here is what the OpenAPI document promises.
  if (report) {
    expect(report.violations).toEqual([]);
    expect(report.checked.length).toBeGreaterThan(0);
  }
});

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...init.headers },
  });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A text the model writes four characters every 150 ms: about 2.5 s, so a dozen or more llm.delta events. */
const SLOW = { chunk_size: 4, chunk_delay_ms: 150 };
const LONG_TEXT = "First I work out the product, then I add a todo with the result, and then I say so.";

async function script(name: string, turns: ScriptedTurn[]): Promise<string> {
  const key = `${name}-${Date.now()}`;
  await registerScript(modelUrl, key, turns);
  return key;
}

interface SseEvent {
  seq: number;
  type: string;
  data: { text?: string } & Record<string, unknown>;
}

/**
 * Reads a run's SSE stream (GET /runs/{id}/stream) as a client does, resuming with Last-Event-ID;
 * `stop` ends this connection early (the client going away), after the event it is given.
 */
async function readStream(runId: string, lastEventId: number | null, stop: (e: SseEvent, all: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/v1/runs/${runId}/stream`, {
    headers: { authorization: `Bearer ${KEY}`, ...(lastEventId !== null ? { "last-event-id": String(lastEventId) } : {}) },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    const reader = res.body!.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      buffer += decoder.decode(r.value, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((l) => l.startsWith("data: "))
          .map((l) => l.slice(6))
          .join("\n");
        if (!data) continue; // a comment or the retry field
        const e = JSON.parse(data) as SseEvent;
        events.push(e);
        if (stop(e, events)) {
          abort.abort();
          return events;
        }
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
  return events;
}

describe("Agent.run under wrangler dev", () => {
  it("is followed over SSE through a reconnect in the middle of the model's streamed text, missing nothing", async () => {
    const modelName = await script("sse", [{ text: LONG_TEXT, ...SLOW }]);
    const run = await api<{ run_id: string }>("/runs", { method: "POST", body: JSON.stringify({ agent: { goal: "say what you will do", model: modelName } }) });

    // The first connection goes away after the third piece of text: the model is still writing.
    const first = await readStream(run.run_id, null, (e, all) => all.filter((x) => x.type === "llm.delta").length === 3);
    const cutAt = first.at(-1)!.seq;
    expect(first.at(-1)!.type).toBe("llm.delta");
    // The second resumes after the last event seen, as an EventSource does, and reads to the end.
    const second = await readStream(run.run_id, cutAt, () => false);
    expect(second[0]!.seq).toBe(cutAt + 1);
    expect(second.at(-1)!.type).toBe("run.completed");
    // The reconnect fell in the middle of the text: more of it came over the second connection.
    expect(second.some((e) => e.type === "llm.delta")).toBe(true);

    // Together they are the run's log, each event once and in order.
    const followed = [...first, ...second];
    const log = await api<{ events: { seq: number; type: string }[] }>(`/runs/${run.run_id}/events?after=0&limit=1000`);
    expect(followed.map((e) => [e.seq, e.type])).toEqual(log.events.map((e) => [e.seq, e.type]));
    // The pieces of text make the answer, nothing lost and nothing twice.
    const streamed = followed.filter((e) => e.type === "llm.delta").map((e) => e.data.text);
    expect(streamed.length).toBeGreaterThan(4);
    expect(streamed.join("")).toBe(LONG_TEXT);
    const done = await api<{ status: string; result: { answer: string } }>(`/runs/${run.run_id}`);
    expect(done).toMatchObject({ status: "completed", result: { answer: LONG_TEXT } });
    // The model was called once: following the run (and dropping off) changes nothing on the server.
    expect((await scriptRecord(modelUrl, modelName)).calls).toEqual({ "0": 1 });
  });

  it("`crane agent` in a terminal: the streamed text, each tool call on one line, an approval decided with `crane approve --call`", async () => {
    const modelName = await script("tty", [
      { text: "Working out 6*7 first.", tool_calls: [{ name: "Calculator.evaluate", arguments: { expression: "6*7" } }], ...SLOW },
      { tool_calls: [{ name: "TodoStore.add", arguments: { title: "buy 42 eggs" } }] },
      { text: "Added a todo to buy 42 eggs.", ...SLOW },
    ]);
    const cmd = `${process.execPath} bin/crane.js --url ${url} agent "work out 6*7 and add a todo to buy that many eggs" --model ${modelName} --tools Calculator.evaluate,TodoStore.add --approve TodoStore.add; echo EXIT=$?`;
    tmux("new-session", "-d", "-s", "agent", "-x", "180", "-y", "50", "-e", `CRANE_API_KEY=${KEY}`, cmd);
    tmux("set-option", "-t", "agent", "remain-on-exit", "on");

    // The add waits for a person: its line says so, with the command that decides it.
    await expect.poll(() => screen("agent").some((l) => l.includes("waiting for approval")), { timeout: 30_000 }).toBe(true);
    const waiting = screen("agent").find((l) => l.includes("waiting for approval"))!;
    const decide = /crane approve (run_\w+) 1 --call (\d+)/.exec(waiting);
    expect(decide, waiting).not.toBeNull();
    // Not execFileSync: the conformance proxy it talks to runs in this process.
    const approved = await promisify(execFile)(
      process.execPath,
      ["bin/crane.js", "--url", url, "approve", decide![1]!, "1", "--call", decide![2]!, "--comment", "fine"],
      {
        env: { ...process.env, CRANE_API_KEY: KEY },
      },
    );
    expect(approved.stdout).toContain("step 1 call 2 approved");

    await expect.poll(() => screen("agent").some((l) => l.startsWith("EXIT=")), { timeout: 60_000 }).toBe(true);
    const shown = screen("agent");
    mkdirSync("test-results", { recursive: true });
    writeFileSync("test-results/cli-agent.txt", `${shown.join("\n")}\n`);
    expect(shown).toContain("EXIT=0");
    // The text of each model call once, the whole of it, on its own line.
    expect(shown.filter((l) => l.trim().startsWith("Working out"))).toEqual(["    Working out 6*7 first."]);
    expect(shown.filter((l) => l.trim().startsWith("Added a todo"))).toEqual(["    Added a todo to buy 42 eggs."]);
    // Each call ends as one line; the waiting line was rewritten, not left above.
    expect(shown.filter((l) => l.includes("call 1 "))).toEqual([expect.stringMatching(/^ {4}✓ call 1 Calculator\.evaluate \{"expression":"6\*7"\} \d+ ms$/)]);
    expect(shown.filter((l) => l.includes("call 2 "))).toEqual([expect.stringMatching(/^ {4}✓ call 2 TodoStore\.add \{"title":"buy 42 eggs"\} \d+ ms$/)]);
    expect(shown.filter((l) => l.includes("run completed"))).toHaveLength(1);
  });

  it("in the console: the agent step opens into its turns, its text grows as it streams, a waiting call is approved from its node", async () => {
    browser = await launchChromium();
    const modelName = await script("console", [
      { text: LONG_TEXT, tool_calls: [{ name: "TodoStore.add", arguments: { title: "console todo" } }], ...SLOW },
      { text: "Done: the todo is added." },
    ]);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const cspViolations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(url);
    await page.fill("#api-key", KEY);
    await page.click("#use-key");
    const run = await api<{ run_id: string }>("/runs", {
      method: "POST",
      body: JSON.stringify({ agent: { goal: "add a todo", model: modelName, tools: ["TodoStore.add"], approve: ["TodoStore.add"] } }),
    });
    await page.goto(`${url}/#/runs/${run.run_id}`);

    // While the model writes, its turn shows part of the text, growing, not yet all of it.
    const partial = await page.waitForFunction(
      (full) => {
        const text = document.querySelector('#agents details.agent[data-step="1"] .turn[data-turn="1"][data-status="running"] .llm-text')?.textContent ?? "";
        return text.length > 0 && text.length < full.length && full.startsWith(text) ? text : false;
      },
      LONG_TEXT,
      { timeout: 30_000 },
    );
    expect(LONG_TEXT.startsWith(String(await partial.jsonValue()))).toBe(true);

    // The call appears as a node, waiting, with its tool and input and the buttons that decide it.
    const node = page.locator('#agents .call[data-call="1"]');
    await expect.poll(() => node.getAttribute("data-status"), { timeout: 30_000 }).toBe("waiting");
    expect(await page.textContent('#agents .turn[data-turn="1"] .llm-text')).toBe(LONG_TEXT);
    expect(await node.textContent()).toContain("TodoStore.add");
    expect(await node.textContent()).toContain("console todo");
    await expect.poll(() => page.textContent("#run-status")).toBe("waiting");
    await page.fill('#agents .call[data-call="1"] input', "go ahead");
    await page.click('#agents .call[data-call="1"] button.approve');

    // Approved, the call runs; the next turn answers, and the run completes, all live.
    await expect.poll(() => node.getAttribute("data-status"), { timeout: 30_000 }).toBe("succeeded");
    await expect.poll(() => page.textContent("#run-status"), { timeout: 30_000 }).toBe("completed");
    await expect.poll(() => page.textContent('#agents .turn[data-turn="2"] .llm-text')).toBe("Done: the todo is added.");
    expect(await page.locator("#agents .call .approval").count()).toBe(0);
    expect(await page.textContent('#agents details.agent[data-step="1"] .agent-end')).toContain("answered after 2 turn(s) and 1 tool call(s)");
    // The decision went to the API with the call's number and the comment.
    const got = await api<{ execution_log: { turns: { calls: { call: number; status: string; comment: string | null }[] }[] }[] }>(`/runs/${run.run_id}`);
    expect(got.execution_log[0]!.turns[0]!.calls[0]).toMatchObject({ call: 1, status: "succeeded", comment: "go ahead" });
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/console-agent.png", fullPage: true });
    expect(cspViolations).toEqual([]);
  });
});

type AgentRun = {
  status: string;
  error: { code: string } | null;
  execution_log: {
    status: string;
    output: { answer: unknown; turns: number } | null;
    usage?: { cost_usd: number };
    turns?: { usage?: { input_tokens: number; output_tokens: number } }[];
  }[];
};

describe("an agent's budgets under wrangler dev", () => {
  it("stops an agent before a model call that would cross its token budget", async () => {
    const loop = { tool_calls: [{ name: "Calculator.evaluate", arguments: { expression: "1+1" } }], usage: { completion_tokens: 200 } };
    const modelName = await script(
      "budget",
      Array.from({ length: 8 }, () => loop),
    );
    const budget = 3000;
    const run = await api<{ run_id: string }>("/runs", {
      method: "POST",
      body: JSON.stringify({ agent: { goal: "loop", model: modelName, tools: ["Calculator.evaluate"], budget: { max_tokens: budget } } }),
    });
    const done = await vi.waitFor(
      async () => {
        const r = await api<AgentRun>(`/runs/${run.run_id}`);
        if (r.status === "running") throw new Error("still running");
        return r;
      },
      { timeout: 60_000, interval: 200 },
    );
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("budget_exceeded");
    const spent = (done.execution_log[0]!.turns ?? []).reduce((n, t) => n + t.usage!.input_tokens + t.usage!.output_tokens, 0);
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(budget);
    const record = await scriptRecord(modelUrl, modelName);
    // It stopped before the script ran out: the budget, not the model, ended the loop.
    expect(record.requests.length).toBeLessThan(8);
    expect(done.execution_log[0]!.output).toMatchObject({ answer: null, turns: record.requests.length });
  });

  it("holds a tenant's daily dollar cap across concurrent agents, and lets the waiting ones go when it is raised", async () => {
    const tenant = `e2e-cap-${Date.now()}`;
    const admin = { authorization: `Bearer ${LOCAL_ADMIN_TOKEN}` };
    const { secret } = await api<{ secret: string }>("/admin/keys", { method: "POST", headers: admin, body: JSON.stringify({ name: "cap", tenant }) });
    const setCap = (usd: number) => api(`/admin/tenants/${tenant}/llm-budget`, { method: "PUT", headers: admin, body: JSON.stringify({ usd_per_day: usd }) });
    const cap = 3;
    await setCap(cap);
    // $1000 per million in, $2000 out: each call reserves its worst case (about $1.7 with this
    // budget) and settles to what it cost (about $0.3), so only a few of twelve fit under $3.
    await registerScript(modelUrl, "e2e-priced", [{ text: "done" }]);
    const as = { authorization: `Bearer ${secret}` };
    const ids = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const body = { agent: { goal: "say done", model: "e2e-priced", tools: ["Calculator.evaluate"], budget: { max_tokens: 1000 } } };
        return (await api<{ run_id: string }>("/runs", { method: "POST", headers: as, body: JSON.stringify(body) })).run_id;
      }),
    );
    const all = () => Promise.all(ids.map((id) => api<AgentRun>(`/runs/${id}`, { headers: as })));
    const spent = (runs: AgentRun[]) => runs.reduce((n, r) => n + (r.execution_log[0]!.usage?.cost_usd ?? 0), 0);
    const held = await vi.waitFor(
      async () => {
        const runs = await all();
        expect(runs.filter((r) => r.status === "completed").length).toBeGreaterThan(0);
        expect(runs.filter((r) => r.status === "waiting").length).toBeGreaterThan(0);
        return runs;
      },
      { timeout: 60_000, interval: 250 },
    );
    expect(held.filter((r) => !["completed", "waiting", "running"].includes(r.status))).toEqual([]);
    expect(spent(held)).toBeLessThanOrEqual(cap);
    const status = await api<{ committed_usd: number }>(`/admin/tenants/${tenant}/llm-budget`, { headers: admin });
    expect(status.committed_usd).toBeLessThanOrEqual(cap);
    // Raised, the waiting agents look again within a second and all complete.
    await setCap(100);
    const after = await vi.waitFor(
      async () => {
        const runs = await all();
        expect(runs.map((r) => r.status)).toEqual(ids.map(() => "completed"));
        return runs;
      },
      { timeout: 60_000, interval: 250 },
    );
    expect(spent(after)).toBeGreaterThan(spent(held));
  });
});
