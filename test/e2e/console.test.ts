import { mkdirSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

// The console in Debian's Chromium, driven by playwright-core, against a real `wrangler dev`.
const url = inject("craneUrl");
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    // This machine has no network beyond loopback: keep Chromium from trying.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  await browser?.close();
});

describe("web console", () => {
  it("previews a plan, runs it, and shows every node succeed live without reloading", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    let loads = 0;
    page.on("load", () => loads++);
    await page.goto(url);
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
  });

  it("shows a clear message for a prompt it cannot plan", async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.fill("#prompt", "what is the meaning of life");
    await page.click("#run");
    await expect.poll(() => page.textContent("#message")).toContain("unplannable_prompt");
  });
});
