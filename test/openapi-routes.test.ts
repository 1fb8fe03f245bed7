import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { api } from "./helpers";

describe("GET /api/v1/openapi.json", () => {
  it("describes every route the app serves, and nothing it does not", async () => {
    const res = await api("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const served = app.routes
      // HTML pages (the console and the API reference) are not API operations.
      .filter((r) => r.method !== "ALL" && r.path !== "/" && r.path !== "/docs")
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    expect([...new Set(served)].sort()).toEqual([...new Set(documented)].sort());
  });

  it("serves an API reference page at /docs", async () => {
    const res = await app.request("/docs");
    expect(res.status).toBe(200);
    const html = await res.text();
    // The page carries the document (the JSON route needs an API key; the reference is public).
    expect(html).toContain("/api/v1/admin/keys");
    expect(html).toContain("watch-token");
    expect(res.headers.get("content-type")).toContain("text/html");
  });
});
