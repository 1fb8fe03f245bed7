import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";

const getDocument = async () => {
  // Public, like the reference page: no Authorization header.
  const res = await app.request("/api/v1/openapi.json", {}, env);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  return (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
};

describe("GET /api/v1/openapi.json", () => {
  it("describes every route the app serves, and nothing it does not", async () => {
    const doc = await getDocument();
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const served = app.routes
      // Middleware (ALL), the HTML pages (the console and the API reference), the tab icon, and
      // the console's own layout service, which is not part of the public API, and /mcp, whose
      // protocol the MCP specification describes (JSON-RPC over Streamable HTTP), not this document,
      // with its resource metadata (RFC 9728).
      .filter((r) => r.method !== "ALL" && !["/", "/docs", "/favicon.ico", "/console/layout", "/mcp"].includes(r.path))
      .filter((r) => !r.path.startsWith("/.well-known/"))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    expect([...new Set(served)].sort()).toEqual([...new Set(documented)].sort());
    expect(documented).not.toContain("POST /console/layout");
  });

  it("names the shared shapes as components", async () => {
    const { components } = await getDocument();
    for (const name of ["Run", "Event", "Plan", "Step", "Error", "Usage", "Breaker"]) expect(components.schemas, name).toHaveProperty(name);
  });

  it("serves an API reference page at /docs that carries the same document", async () => {
    const res = await app.request("/docs", {}, env);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("/api/v1/admin/keys");
    expect(html).toContain("watch-token");
    // Every documented path and component is on the page.
    const doc = await getDocument();
    for (const path of Object.keys(doc.paths)) expect(html).toContain(path);
    for (const name of Object.keys(doc.components.schemas)) expect(html).toContain(name);
  });
});
