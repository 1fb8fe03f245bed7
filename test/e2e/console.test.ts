import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./browser.ts";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { expectConformingTraffic } from "./conformance.ts";

// The console in Debian's Chromium, driven by playwright-core, against a real `wrangler dev`.
const url = inject("craneUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  // What the console was answered is what the OpenAPI document promises (the proxy checked each answer).
  await expectConformingTraffic(10);
});

async function api<T>(path: string, init: RequestInit = {}, key = "crane_dev_key"): Promise<T> {
  const res = await fetch(`${url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers },
  });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Opens a run in the console and waits until its DAG is drawn. */
async function openRun(page: Page, runId: string) {
  await page.goto(`${url}/#/runs/${runId}`);
  await page.waitForSelector("#run-dag .node");
}

async function useKey(page: Page, key = "crane_dev_key") {
  await page.fill("#api-key", key);
  await page.click("#use-key");
}

describe("web console", () => {
  it("previews a plan, runs it, and shows every node succeed live without reloading", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    let loads = 0;
    page.on("load", () => loads++);
    const cspViolations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(url);
    // Without a key the console asks for one and shows nothing.
    await expect.poll(() => page.textContent("#message")).toContain("Enter an API key");
    await useKey(page);
    await page.fill("#prompt", "calculate 2 + 3 and calculate 4 * 5, then list my todos");

    await page.click("#preview");
    await page.waitForSelector("#preview-dag .node >> nth=2");
    expect(await page.locator("#preview-dag .node").count()).toBe(3);
    expect(await page.locator("#preview-dag path[data-edge]").count()).toBe(2);

    await page.click("#run");
    await page.waitForSelector("#run-dag .node >> nth=2");
    await page.waitForFunction(() => document.querySelectorAll('#run-dag .node[data-status="succeeded"]').length === 3, undefined, { timeout: 20_000 });
    await expect.poll(() => page.textContent("#run-status")).toBe("completed");
    expect(await page.textContent("#run-outcome")).toContain("result:");
    expect(await page.locator("#timeline li").count()).toBeGreaterThanOrEqual(9);
    expect(await page.textContent('#steps tr[data-step="1"]')).toContain("5");
    expect(loads).toBe(1); // all of it live, over the WebSocket

    // The run shows up in the list, and the breakers panel is filled.
    await expect.poll(() => page.locator("#runs li").count()).toBeGreaterThan(0);
    expect(await page.locator("#breakers li").count()).toBeGreaterThan(0);

    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/console.png", fullPage: true });
    expect(cspViolations).toEqual([]);
  });

  it("previews the plan as the prompt is typed, and never shows the previous prompt's DAG", async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await useKey(page);
    await page.fill("#prompt", "calculate 1 + 1 and calculate 2 + 2");
    // No click: the preview follows the text once typing pauses.
    await expect.poll(() => page.locator("#preview-dag .node").count()).toBe(2);
    await page.fill("#prompt", "calculate 1 + 1 and calculate 2 + 2 and calculate 3 + 3");
    // The old DAG is gone at once, before the new plan is back.
    expect(await page.locator("#preview-dag .node").count()).toBe(0);
    await expect.poll(() => page.locator("#preview-dag .node").count()).toBe(3);
    expect(await page.textContent("#preview-info")).toContain("3 steps");
  });

  it("a tenant switch clears the previous tenant's run, filter and errors", async () => {
    const other = await api<{ secret: string }>(
      "/admin/keys",
      { method: "POST", body: JSON.stringify({ name: "console switch", tenant: `console-${Date.now()}` }) },
      "crane_local_admin_token",
    );
    const run = await api<{ run_id: string }>("/runs", { method: "POST", body: JSON.stringify({ prompt: "calculate 8 * 8" }) });
    const page = await browser.newPage();
    await page.goto(url);
    await useKey(page);
    await openRun(page, run.run_id);
    await expect.poll(() => page.textContent("#run-status")).toBe("completed");
    await page.selectOption("#status-filter", "completed");
    await page.fill("#prompt", "what is the meaning of life");
    await page.click("#run");
    await expect.poll(() => page.textContent("#message")).toContain("unplannable_prompt");

    await useKey(page, other.secret);
    expect(await page.isHidden("#run-view")).toBe(true);
    expect(new URL(page.url()).hash).toBe("");
    expect(await page.inputValue("#status-filter")).toBe("");
    expect(await page.textContent("#message")).toBe("");
    // The new tenant has no runs, and is told what to do about it.
    await expect.poll(() => page.textContent("#runs")).toContain("No runs yet — try");
    expect(await page.locator(`#runs li[data-run="${run.run_id}"]`).count()).toBe(0);
  });

  it("cancels and resumes a run from its buttons, after asking", async () => {
    const run = await api<{ run_id: string }>("/runs", { method: "POST", body: JSON.stringify({ prompt: "wait 30 seconds then calculate 1 + 1" }) });
    const page = await browser.newPage();
    const asked: string[] = [];
    page.on("dialog", (d) => {
      asked.push(d.message());
      void d.accept();
    });
    await page.goto(url);
    await useKey(page);
    await openRun(page, run.run_id);
    await expect.poll(() => page.textContent("#run-status")).toBe("running");
    expect(await page.isVisible("#resume-run")).toBe(false);
    await page.click("#cancel-run");
    await expect.poll(() => page.textContent("#run-status")).toBe("cancelled");
    expect((await api<{ status: string }>(`/runs/${run.run_id}`)).status).toBe("cancelled");
    await page.click("#resume-run");
    await expect.poll(() => page.textContent("#run-status")).toBe("running");
    expect((await api<{ status: string }>(`/runs/${run.run_id}`)).status).toBe("running");
    expect(asked).toEqual([`Cancel run ${run.run_id}?`, `Resume run ${run.run_id}?`]);
    // Declined: nothing happens.
    page.removeAllListeners("dialog");
    page.on("dialog", (d) => void d.dismiss());
    await page.click("#cancel-run");
    expect((await api<{ status: string }>(`/runs/${run.run_id}`)).status).toBe("running");
    await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
  });

  it("reruns an ended run from a step with its button: the new run keeps what came before and takes the changed input", async () => {
    type Run = { run_id: string; status: string; rerun_of: string | null; result: unknown; execution_log: { attempts: number; output: unknown }[] };
    const plan = {
      steps: [
        { step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" } },
        { step_number: 2, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output}} * 10" }, depends_on: [1] },
      ],
    };
    const original = await api<Run>("/runs?wait=10", { method: "POST", body: JSON.stringify({ plan }) });
    expect(original.status).toBe("completed");
    const page = await browser.newPage();
    const asked: string[] = [];
    page.on("dialog", (d) => {
      asked.push(d.message());
      void d.accept('{"expression": "{{steps.1.output}} * 21"}');
    });
    await page.goto(url);
    await useKey(page);
    await openRun(page, original.run_id);
    await expect.poll(() => page.textContent("#run-status")).toBe("completed");
    await page.click('#steps tr[data-step="2"] button.rerun');
    // The console opens the new run.
    await page.waitForFunction((id) => location.hash.startsWith("#/runs/") && !location.hash.endsWith(id), original.run_id);
    const newId = (await page.evaluate(() => location.hash)).slice("#/runs/".length);
    await expect.poll(() => page.textContent("#run-status")).toBe("completed");
    const rerun = await api<Run>(`/runs/${newId}`);
    expect(rerun).toMatchObject({ rerun_of: original.run_id, status: "completed", result: 42 });
    expect(rerun.execution_log.map((s) => s.attempts)).toEqual([0, 1]); // step 1 taken over, not run
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain(`from step 2`);
  });

  it("draws attempts on a shared time axis (two parallel waits overlap), and the scrubber redraws an earlier state", async () => {
    const run = await api<{ run_id: string }>("/runs", {
      method: "POST",
      body: JSON.stringify({ prompt: "wait 1 second and wait 1 second, then calculate 2 + 2" }),
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await useKey(page);
    await openRun(page, run.run_id);
    await expect.poll(() => page.textContent("#run-status"), { timeout: 20_000 }).toBe("completed");
    const box = async (step: number) => (await page.locator(`#gantt .bar[data-step="${step}"]`).boundingBox())!;
    const [one, two, three] = [await box(1), await box(2), await box(3)];
    // The two waits ran side by side; the calculation came after both.
    expect(one.x < two.x + two.width && two.x < one.x + one.width).toBe(true);
    expect(Math.min(one.width, two.width)).toBeGreaterThan(20);
    expect(three.x).toBeGreaterThanOrEqual(Math.max(one.x + one.width, two.x + two.width) - 1);
    expect(await page.getAttribute('#gantt .bar[data-step="1"]', "title")).toMatch(/step 1, attempt 1: succeeded, \d+ ms/);

    // Scrub back to just after step 1 started: the DAG shows it running and step 3 pending.
    const { events } = await api<{ events: { seq: number; type: string; data: { step?: number } }[] }>(`/runs/${run.run_id}/events?after=0&limit=100`);
    const at = events.findIndex((e) => e.type === "step.started" && e.data.step === 1) + 1;
    await page.$eval(
      "#scrub",
      (e, v) => {
        (e as HTMLInputElement).value = String(v);
        e.dispatchEvent(new Event("input"));
      },
      at,
    );
    expect(await page.getAttribute("#run-dag", "data-seq")).toBe(String(events[at - 1]!.seq));
    expect(await page.getAttribute('#run-dag .node[data-step="1"]', "data-status")).toBe("running");
    expect(await page.getAttribute('#run-dag .node[data-step="3"]', "data-status")).toBe("pending");
    expect(await page.textContent("#run-status")).toBe("running");
    expect(await page.textContent("#scrub-label")).toBe(`as of seq ${events[at - 1]!.seq} of ${events.at(-1)!.seq}`);
    // And forward to the end: live again, as the API says.
    await page.$eval("#scrub", (e) => {
      (e as HTMLInputElement).value = (e as HTMLInputElement).max;
      e.dispatchEvent(new Event("input"));
    });
    expect(await page.getAttribute('#run-dag .node[data-step="3"]', "data-status")).toBe("succeeded");
    expect(await page.textContent("#scrub-label")).toBe("live");
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/console-timeline.png", fullPage: true });
  });

  it("fits a 420 px window: no horizontal scroll, DAG labels at full size", async () => {
    const run = await api<{ run_id: string }>("/runs", {
      method: "POST",
      body: JSON.stringify({ prompt: "calculate 2 + 3 and calculate 4 * 5, then list my todos" }),
    });
    const page = await browser.newPage({ viewport: { width: 420, height: 900 } });
    await page.goto(url);
    await useKey(page);
    await openRun(page, run.run_id);
    await expect.poll(() => page.textContent("#run-status")).toBe("completed");
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0);
    // The DAG is drawn at its own size (scrolling inside its box), not shrunk until labels cannot be read.
    const scale = await page.$eval("#run-dag", (svg) => svg.getBoundingClientRect().width / (svg as SVGSVGElement).viewBox.baseVal.width);
    expect(scale).toBe(1);
    // The todo list result renders as a table.
    expect(await page.locator("#run-outcome table.todos, #run-outcome .muted").count()).toBe(1);
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/console-420.png", fullPage: true });
  });

  it("says a run waits on an open breaker, and until when, rather than just 'running'", async () => {
    // A tenant of its own: breakers are per tenant, so tripping this one touches no other test.
    const { secret } = await api<{ secret: string }>(
      "/admin/keys",
      { method: "POST", body: JSON.stringify({ name: "console breaker", tenant: `breaker-${Date.now()}` }) },
      "crane_local_admin_token",
    );
    const failing = createServer((_req, res) => res.writeHead(503).end("down"));
    await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
    const down = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/`;
    try {
      // Five failures in a row open the tenant's Http.get breaker.
      for (let i = 0; i < 5; i++) {
        const run = await api<{ run_id: string }>(
          "/runs?wait=10",
          { method: "POST", body: JSON.stringify({ prompt: `fetch ${down}${i}`, options: { retry: { max_attempts: 1 } } }) },
          secret,
        );
        expect((await api<{ status: string }>(`/runs/${run.run_id}`, {}, secret)).status).toBe("failed");
      }
      const breakers = await api<{ breakers: { tool: string; state: string }[] }>("/breakers", {}, secret);
      expect(breakers.breakers.find((b) => b.tool === "Http.get")?.state).toBe("open");
      const waiting = await api<{ run_id: string }>("/runs", { method: "POST", body: JSON.stringify({ prompt: `fetch ${down}later` }) }, secret);

      const page = await browser.newPage();
      await page.goto(url);
      await useKey(page, secret);
      await openRun(page, waiting.run_id);
      await expect.poll(() => page.textContent("#waiting"), { timeout: 20_000 }).toMatch(/^waiting for Http\.get to recover, next try at \d{1,2}:\d\d:\d\d/);
      expect(await page.textContent("#run-status")).toBe("running");
      await api(`/runs/${waiting.run_id}/cancel`, { method: "POST" }, secret);
      await expect.poll(() => page.textContent("#waiting")).toBe("");
    } finally {
      failing.close();
    }
  });

  it("renders results as data: todos as a table, JSON collapsed, long text cut with 'show all'", async () => {
    const title = `pack ${"very ".repeat(70)}carefully`;
    const run = await api<{ run_id: string }>("/runs?wait=10", { method: "POST", body: JSON.stringify({ prompt: `add a todo called "${title}"` }) });
    const page = await browser.newPage();
    await page.goto(url);
    await useKey(page);
    await openRun(page, run.run_id);
    await expect.poll(() => page.textContent("#run-status")).toBe("completed");
    const output = page.locator('#steps tr[data-step="1"] td').nth(5);
    // The added todo is a one-row table whose long title is cut until asked for.
    expect(await output.locator("table.todos tbody tr").count()).toBe(1);
    expect(await output.textContent()).not.toContain(title);
    await output.locator("button.show-all").click();
    expect(await output.textContent()).toContain(title);
    // The input is JSON, collapsed until opened.
    const input = page.locator('#steps tr[data-step="1"] td').nth(4).locator("details.json");
    expect(await input.getAttribute("open")).toBeNull();
    expect(await input.locator("summary").textContent()).toBe("{ 1 key }");
    await input.locator("summary").click();
    expect(await input.getAttribute("open")).not.toBeNull();
    expect(await input.locator("pre").textContent()).toContain('"title"');
  });

  it("shows a clear message for a prompt it cannot plan", async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await useKey(page);
    await page.fill("#prompt", "what is the meaning of life");
    await page.click("#run");
    await expect.poll(() => page.textContent("#message")).toContain("unplannable_prompt");
  });

  it("says so when the key is wrong, and shows nothing", async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await useKey(page, "crane_not_a_key");
    await expect.poll(() => page.textContent("#message")).toContain("invalid_api_key");
    expect(await page.locator("#runs li").count()).toBe(0);
  });

  describe("what a new user sees at a glance (screenshots at 1280 and 420 px)", () => {
    type Run = { run_id: string; status: string; execution_log: { status: string }[]; compensation: { status: string } | null };
    // The whole page as a person sees it: the window is made as tall as the page, rather than a
    // fullPage capture, which leaves out the scrollbars of boxes that scroll (the DAG's).
    const shot = async (page: Page, name: string) => {
      mkdirSync("test-results", { recursive: true });
      const width = page.viewportSize()!.width;
      await page.setViewportSize({ width, height: await page.evaluate(() => document.documentElement.scrollHeight) });
      await page.screenshot({ path: `test-results/${name}.png` });
    };
    const untilRun = async (runId: string, done: (r: Run) => boolean) => {
      await expect.poll(async () => done(await api<Run>(`/runs/${runId}`)), { timeout: 20_000 }).toBe(true);
    };

    for (const width of [1280, 420]) {
      it(`at ${width} px: a sleeping step says when it wakes, and the time axis moves with the clock`, async () => {
        const run = await api<{ run_id: string }>("/runs", {
          method: "POST",
          body: JSON.stringify({ plan: { steps: [{ step_number: 1, tool: "Wait.sleep", input: { seconds: 600 } }] } }),
        });
        const page = await browser.newPage({ viewport: { width, height: 900 } });
        try {
          await page.goto(url);
          await useKey(page);
          await openRun(page, run.run_id);
          await expect.poll(() => page.textContent('#steps tr[data-step="1"] .wake')).toMatch(/^wakes at \d{1,2}:\d\d:\d\d/);
          expect(await page.textContent('#run-dag .node[data-step="1"] text.status')).toMatch(/^wakes at /);
          // No event arrives while it sleeps, yet the axis grows.
          const first = await page.textContent("#gantt .axis");
          await expect.poll(() => page.textContent("#gantt .axis")).not.toBe(first);
          if (width === 420) {
            // Every column of the steps table is on screen: nothing cut off at the right edge.
            const right = await page.$$eval("#steps td", (cells) => Math.max(...cells.map((c) => c.getBoundingClientRect().right)));
            expect(right).toBeLessThanOrEqual(420);
            expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0);
          }
          await shot(page, `console-sleep-${width}`);
        } finally {
          await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
        }
      });

      it(`at ${width} px: an undone step is marked, with what undid it`, async () => {
        const title = `undo me ${Date.now()}`;
        const plan = {
          steps: [
            { step_number: 1, tool: "TodoStore.add", input: { title } },
            { step_number: 2, tool: "Human.approve", input: { message: "keep it?" }, depends_on: [1] },
          ],
        };
        const run = await api<{ run_id: string }>("/runs", { method: "POST", body: JSON.stringify({ plan }) });
        await untilRun(run.run_id, (r) => r.execution_log[0]!.status === "succeeded");
        await api(`/runs/${run.run_id}/cancel`, { method: "POST", body: JSON.stringify({ compensate: true }) });
        await untilRun(run.run_id, (r) => r.status === "cancelled" && r.compensation?.status === "completed");
        const page = await browser.newPage({ viewport: { width, height: 900 } });
        await page.goto(url);
        await useKey(page);
        await openRun(page, run.run_id);
        await expect.poll(() => page.textContent("#run-status")).toBe("cancelled");
        const row = page.locator('#steps tr[data-step="1"]');
        await expect.poll(() => row.getAttribute("class")).toBe("undone");
        expect(await row.locator('.badge[data-status="undone"]').textContent()).toBe("undone");
        expect(await row.locator(".undo-note").textContent()).toContain("undone by TodoStore.delete");
        await shot(page, `console-undone-${width}`);
      });

      it(`at ${width} px: recent runs show when they started and a short id; a waiting run is flagged without emoji`, async () => {
        const prompt = "calculate 3 + 4";
        const runs = [];
        for (let i = 0; i < 2; i++) runs.push(await api<{ run_id: string }>("/runs?wait=10", { method: "POST", body: JSON.stringify({ prompt }) }));
        const waiting = await api<{ run_id: string }>("/runs", {
          method: "POST",
          body: JSON.stringify({ plan: { steps: [{ step_number: 1, tool: "Human.approve", input: { message: "ship it?" } }] } }),
        });
        const page = await browser.newPage({ viewport: { width, height: 900 } });
        try {
          await page.goto(url);
          await useKey(page);
          for (const r of runs) await page.waitForSelector(`#runs li[data-run="${r.run_id}"]`);
          const metas = await Promise.all(runs.map((r) => page.textContent(`#runs li[data-run="${r.run_id}"] .meta`)));
          for (const [i, m] of metas.entries()) expect(m).toMatch(new RegExp(`^\\d+ (s|min) ago ${runs[i]!.run_id.slice(0, 10)}$`));
          expect(metas[0]).not.toBe(metas[1]);
          const flag = page.locator(`#runs li[data-run="${waiting.run_id}"] .flag`);
          await expect.poll(() => flag.textContent(), { timeout: 20_000 }).toBe("needs you");
          expect(await flag.locator("svg").count()).toBe(1);
          expect(await page.textContent("body")).not.toMatch(/[\u{1F300}-\u{1FAFF}\u{2300}-\u{23FF}\u{2600}-\u{27BF}\u{21A9}]/u);
          await shot(page, `console-runs-${width}`);
        } finally {
          await api(`/runs/${waiting.run_id}/cancel`, { method: "POST" });
        }
      });

      it(`at ${width} px: a wide plan preview scrolls with a visible scrollbar; an unplannable prompt leaves no empty box`, async () => {
        const page = await browser.newPage({ viewport: { width, height: 900 } });
        await page.goto(url);
        await useKey(page);
        // The page's own example: two calculations side by side, then a list, wider than the panel.
        await page.fill("#prompt", "calculate 2 + 3 and calculate 4 * 5, then list my todos");
        await expect.poll(() => page.locator("#preview-dag .node").count()).toBe(3);
        const wrap = await page.$eval("#preview-wrap", (w) => ({
          scroll: w.scrollWidth - w.clientWidth,
          bar: (w as HTMLElement).offsetHeight - w.clientHeight,
        }));
        // Wider than the panel: it scrolls inside its box, and the scrollbar is drawn (it takes height).
        expect(wrap.scroll).toBeGreaterThan(0);
        expect(wrap.bar).toBeGreaterThan(0);
        await shot(page, `console-preview-${width}`);
        await page.fill("#prompt", "what is the meaning of life");
        await expect.poll(() => page.textContent("#preview-info")).toContain("unplannable_prompt");
        expect(await page.isHidden("#preview-wrap")).toBe(true);
        await shot(page, `console-unplannable-${width}`);
      });
    }

    it("at 420 px: pressing Run brings the run into view", async () => {
      const page = await browser.newPage({ viewport: { width: 420, height: 800 } });
      await page.goto(url);
      await useKey(page);
      await page.fill("#prompt", "calculate 6 * 7");
      await page.click("#run");
      await page.waitForSelector("#run-dag .node");
      await expect.poll(() => page.textContent("#run-status")).toBe("completed");
      await expect.poll(() => page.$eval("#run-view", (v) => Math.round(v.getBoundingClientRect().top))).toBeLessThan(800 - 80);
      expect(await page.$eval("#run-view", (v) => v.getBoundingClientRect().top)).toBeGreaterThanOrEqual(-1);
      await shot(page, "console-run-420");
    });
  });
});
