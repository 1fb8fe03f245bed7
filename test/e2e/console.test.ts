import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { expectConformingTraffic } from "./conformance.ts";

// The console in Debian's Chromium, driven by playwright-core, against a real `wrangler dev`.
const url = inject("craneUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    // This machine has no network beyond loopback: keep Chromium from trying.
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  // What the console was answered is what the OpenAPI document promises (the proxy checked each answer).
  await expectConformingTraffic(10);
});

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
});
