import { describe, expect, it, vi } from "vitest";
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));
vi.mock("../../src/console/console.html", () => ({ default: "<html></html>" }));
describe("probe", () => {
  it("imports the app in node", async () => {
    const { app } = await import("../../src/app");
    expect(app.routes.length).toBeGreaterThan(5);
  });
});
