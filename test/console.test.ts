import { describe, expect, it } from "vitest";
import { exports } from "cloudflare:workers";
import { layoutPlan } from "../src/api/console-layout";
import { DEV_KEY } from "./helpers";

describe("the web console", () => {
  it("serves its page at / with a CSP that forbids framing", async () => {
    const res = await exports.default.fetch(new Request("http://crane.test/"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("cross-origin-opener-policy")).toBe("same-origin");
    // Nothing but the page's own script and stylesheet (by hash), its images, and the API.
    expect(csp.replace(/'sha256-[A-Za-z0-9+/=]+'/g, "HASH")).toBe(
      "default-src 'none'; script-src HASH; style-src HASH; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    const html = await res.text();
    expect(html).toContain('id="run-dag"');
    // Inline code runs only if it is exactly the page's own: allowed by hash, never 'unsafe-inline'.
    expect(csp).not.toContain("unsafe-inline");
    const script = /<script[^>]*>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const digest = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script)))));
    expect(csp).toMatch(new RegExp(`script-src 'sha256-${digest.replace(/[+/]/g, "\\$&")}'`));
  });

  it("serves a favicon, so the browser's own request is not a 404", async () => {
    const res = await exports.default.fetch(new Request("http://crane.test/favicon.ico"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/svg+xml");
    expect(await res.text()).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });

  it("lays a plan's DAG out with dagre: dependencies flow left to right", async () => {
    const res = await exports.default.fetch(
      new Request("http://crane.test/console/layout", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${DEV_KEY}` },
        body: JSON.stringify({
          steps: [
            { step_number: 1, tool: "Calculator.evaluate", depends_on: [] },
            { step_number: 2, tool: "Calculator.evaluate", depends_on: [] },
            { step_number: 3, tool: "TodoStore.list", depends_on: [1, 2] },
          ],
        }),
      }),
    );
    expect(res.status).toBe(200);
    const layout = (await res.json()) as {
      width: number;
      nodes: { step: number; x: number; y: number }[];
      edges: { from: number; to: number; points: unknown[] }[];
    };
    const [a, b, c] = layout.nodes;
    expect(a!.x).toBe(b!.x); // the two independent steps share a rank
    expect(a!.y).not.toBe(b!.y);
    expect(c!.x).toBeGreaterThan(a!.x); // the join comes after them
    expect(layout.edges.map((e) => `${e.from}->${e.to}`).sort()).toEqual(["1->3", "2->3"]);
    expect(layout.edges.every((e) => e.points.length >= 2)).toBe(true);
  });

  it("draws each compensation under its step's column, stacked, with its edge running back from the step through the gap beside it", () => {
    const layout = layoutPlan([
      { step_number: 1, tool: "TodoStore.add", depends_on: [], compensate: { tool: "TodoStore.delete" } },
      { step_number: 2, tool: "TodoStore.add", depends_on: [], compensate: { tool: "TodoStore.delete" } },
      { step_number: 3, tool: "TodoStore.list", depends_on: [1, 2], compensate: null },
      { step_number: 4, tool: "TodoStore.complete", depends_on: [3], compensate: { tool: "TodoStore.reopen" } },
    ]);
    const node = (step: number) => layout.nodes.find((n) => n.step === step)!;
    const dagBottom = Math.max(...layout.nodes.map((n) => n.y + n.height / 2));
    expect(layout.compensations.map((c) => [c.step, c.tool])).toEqual([
      [1, "TodoStore.delete"],
      [2, "TodoStore.delete"],
      [4, "TodoStore.reopen"],
    ]);
    const [u1, u2, u4] = layout.compensations;
    // Beside its step: same column, below everything in the DAG; two undos of one column do not overlap.
    expect(u1!.x).toBe(node(1).x);
    expect(u4!.x).toBe(node(4).x);
    for (const u of layout.compensations) expect(u.y - u.height / 2).toBeGreaterThan(dagBottom);
    expect(Math.abs(u1!.y - u2!.y)).toBeGreaterThanOrEqual(u1!.height);
    expect(u4!.y).toBe(u1!.y); // another column starts its own first row
    // The edge leaves its step's bottom and ends at the undo's left side, passing left of the column.
    const first = u1!.points[0]!;
    const last = u1!.points.at(-1)!;
    expect(first.y).toBe(node(1).y + node(1).height / 2);
    expect(last).toEqual({ x: u1!.x - u1!.width / 2, y: u1!.y });
    expect(Math.min(...u1!.points.map((p) => p.x))).toBeLessThan(node(1).x - node(1).width / 2);
    expect(layout.height).toBeGreaterThanOrEqual(Math.max(...layout.compensations.map((u) => u.y + u.height / 2)));
    // Without compensations the drawing is the DAG alone.
    const plain = layoutPlan([{ step_number: 1, tool: "Calculator.evaluate", depends_on: [] }]);
    expect(plain.compensations).toEqual([]);
    expect(plain.height).toBe(Math.ceil(plain.nodes[0]!.height + 32));
  });

  it("needs an API key for the layout service", async () => {
    const res = await exports.default.fetch(
      new Request("http://crane.test/console/layout", { method: "POST", headers: { "content-type": "application/json" }, body: '{"steps":[]}' }),
    );
    expect(res.status).toBe(401);
  });

  it("rejects a bad layout request with the error shape", async () => {
    const res = await exports.default.fetch(
      new Request("http://crane.test/console/layout", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${DEV_KEY}` },
        body: '{"steps":[]}',
      }),
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("validation_failed");
  });
});
