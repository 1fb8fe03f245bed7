import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launchChromium } from "./browser.ts";
import { expectConformingTraffic } from "./conformance.ts";

// People in the loop, in Debian's Chromium against a real `wrangler dev`: the console flags waiting
// runs and decides them with its buttons; a decision link's page decides once, without a key.
const url = inject("craneUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await expectConformingTraffic(5);
});

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${url}/api/v1${path}`, {
    ...init,
    headers: { authorization: "Bearer crane_dev_key", "content-type": "application/json", ...init.headers },
  });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface Run {
  run_id: string;
  status: string;
  execution_log: { step_number: number; status: string; output: unknown }[];
}

/** A run that asks before it adds a todo titled `title`. */
const waitingRun = (title: string) =>
  api<Run>("/runs", {
    method: "POST",
    body: JSON.stringify({
      plan: {
        steps: [
          { step_number: 1, tool: "Human.approve", input: { message: `Add the todo "${title}"?`, timeout_seconds: 3600 } },
          { step_number: 2, tool: "TodoStore.add", input: { title }, depends_on: [1] },
        ],
      },
    }),
  });

/** Records Content-Security-Policy violations the page reports. */
function cspWatch(page: Page): string[] {
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  return violations;
}

describe("approvals in the browser", () => {
  it("the console flags waiting runs, shows each approval's message, approves one run and rejects another", async () => {
    const tag = Date.now().toString(36);
    const [a, b] = [await waitingRun(`approved ${tag}`), await waitingRun(`rejected ${tag}`)];
    expect([a.status, b.status]).toEqual(["waiting", "waiting"]);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const violations = cspWatch(page);
    await page.goto(url);
    await page.fill("#api-key", "crane_dev_key");
    await page.click("#use-key");

    // Both are flagged in the list (it refreshes every 5 s; D1 has them a moment after the POST).
    for (const run of [a, b]) {
      await expect.poll(() => page.locator(`#runs li.waiting[data-run="${run.run_id}"]`).count(), { timeout: 15_000 }).toBe(1);
    }
    expect(await page.textContent(`#runs li[data-run="${a.run_id}"]`)).toContain("needs you");

    await page.click(`#runs li[data-run="${a.run_id}"]`);
    await page.waitForSelector('#approvals .approval[data-step="1"]');
    await expect.poll(() => page.textContent("#run-status")).toBe("waiting");
    expect(await page.getAttribute('#run-dag .node[data-step="1"]', "data-status")).toBe("waiting");
    expect(await page.textContent("#approvals .approval .ask")).toBe(`Add the todo "approved ${tag}"?`);
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/console-waiting.png", fullPage: true });
    await page.fill("#approvals .approval input", "ship it");
    await page.click("#approvals .approval button.approve");
    await expect.poll(() => page.textContent("#run-status"), { timeout: 20_000 }).toBe("completed");
    expect(await page.locator("#approvals .approval").count()).toBe(0);
    expect(await page.getAttribute('#run-dag .node[data-step="2"]', "data-status")).toBe("succeeded");
    const approved = await api<Run>(`/runs/${a.run_id}`);
    expect(approved.execution_log[0]!.output).toMatchObject({ decision: "approve", comment: "ship it", decided_by: "dev" });

    await page.goto(`${url}/#/runs/${b.run_id}`);
    await page.waitForSelector('#approvals .approval[data-step="1"]');
    expect(await page.textContent("#approvals .approval .ask")).toBe(`Add the todo "rejected ${tag}"?`);
    await page.click("#approvals .approval button.reject");
    await expect.poll(() => page.textContent("#run-status"), { timeout: 20_000 }).toBe("failed");
    expect(await page.getAttribute('#run-dag .node[data-step="1"]', "data-status")).toBe("failed");
    expect(await page.getAttribute('#run-dag .node[data-step="2"]', "data-status")).toBe("skipped");
    expect((await api<Run>(`/runs/${b.run_id}`)).status).toBe("failed");

    await page.screenshot({ path: "test-results/console-approvals.png", fullPage: true });
    expect(violations).toEqual([]);
  });

  it("a decision link opens a confirmation page that decides nothing; its button approves once; both links are spent", async () => {
    const run = await waitingRun(`by link ${Date.now().toString(36)}`);
    const links = await api<{ approve_url: string; reject_url: string; expires_at: string }>(`/runs/${run.run_id}/steps/1/decision-link`, { method: "POST" });
    // The links are made for wherever the request came in; the browser opens them on this server.
    const here = (link: string) => `${url}${new URL(link).pathname}`;
    const page = await browser.newPage();
    const violations = cspWatch(page);

    const shown = await page.goto(here(links.approve_url));
    expect(shown!.status()).toBe(200);
    expect(await page.textContent("h1")).toBe("Approve?");
    expect(await page.textContent(".message")).toContain("Add the todo");
    // Opening it decided nothing: the run still waits.
    expect((await api<Run>(`/runs/${run.run_id}`)).status).toBe("waiting");

    await page.fill("textarea[name=comment]", "from my phone");
    const [answer] = await Promise.all([page.waitForNavigation(), page.click("button.approve")]);
    expect(answer!.status()).toBe(200);
    expect(await page.textContent("h1")).toBe("Approved");
    await expect.poll(async () => (await api<Run>(`/runs/${run.run_id}`)).status, { timeout: 20_000 }).toBe("completed");
    expect((await api<Run>(`/runs/${run.run_id}`)).execution_log[0]!.output).toMatchObject({ comment: "from my phone", decided_by: "link" });

    // Used: the link and its twin now open a refusal, with its status.
    for (const link of [links.approve_url, links.reject_url]) {
      const again = await page.goto(here(link));
      expect(again!.status()).toBe(409);
      expect(await page.textContent("h1")).toBe("Already decided");
      expect(await page.locator("form").count()).toBe(0);
    }
    const unknown = await page.goto(`${url}/decide/${run.run_id}/dl_${"0".repeat(48)}`);
    expect(unknown!.status()).toBe(404);
    expect(await page.textContent("h1")).toBe("Link not valid");
    expect(violations).toEqual([]);
  });

  it("draws each step's compensation beside it with a dashed edge back to it, coloured from the run resource", async () => {
    // The run resource's compensation fields (execution_log[].compensate, compensation) as the
    // contract gives them, put into the answer the console reads, whether or not this server
    // writes them yet.
    const run = await api<Run>("/runs?wait=10", {
      method: "POST",
      body: JSON.stringify({ prompt: `add a todo to undo me ${Date.now().toString(36)}, then list my todos` }),
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.route(`**/api/v1/runs/${run.run_id}`, async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as Run & { execution_log: Record<string, unknown>[] };
      body.execution_log[0]!.compensate = { tool: "TodoStore.delete", input: { id: "{{steps.1.output.todo.id}}" } };
      body.execution_log[1]!.compensate = null;
      const compensation = {
        status: "failed",
        reason: "run_failed",
        steps: [
          {
            step_number: 1,
            tool: "TodoStore.delete",
            input: { id: 1 },
            status: "failed",
            attempts: 3,
            output: null,
            error: { code: "upstream_error", message: "x" },
          },
        ],
      };
      await route.fulfill({ response: res, json: { ...body, compensation } });
    });
    await page.goto(url);
    await page.fill("#api-key", "crane_dev_key");
    await page.click("#use-key");
    await page.goto(`${url}/#/runs/${run.run_id}`);
    await page.waitForSelector('#run-dag .undo[data-undo-step="1"]');
    expect(await page.locator("#run-dag .undo").count()).toBe(1);
    expect(await page.getAttribute('#run-dag .undo[data-undo-step="1"]', "data-status")).toBe("failed");
    expect(await page.textContent('#run-dag .undo[data-undo-step="1"]')).toContain("TodoStore.delete");
    expect(await page.textContent('#run-dag .undo[data-undo-step="1"] text.status')).toBe("failed (3 attempts)");
    expect(await page.textContent('#run-dag .undo[data-undo-step="1"] title')).toBe("upstream_error: x");
    const edge = page.locator('#run-dag path.undo-edge[data-undo-edge="1"]');
    expect(await edge.evaluate((e) => getComputedStyle(e).strokeDasharray)).not.toBe("none");
    // The undo sits under its step, in the same column.
    const [stepBox, undoBox] = [
      await page.locator('#run-dag .node[data-step="1"]').boundingBox(),
      await page.locator('#run-dag .undo[data-undo-step="1"]').boundingBox(),
    ];
    expect(undoBox!.y).toBeGreaterThan(stepBox!.y + stepBox!.height);
    expect(Math.abs(undoBox!.x - stepBox!.x)).toBeLessThan(1);
    await page.screenshot({ path: "test-results/console-compensation.png", fullPage: true });
  });
});
