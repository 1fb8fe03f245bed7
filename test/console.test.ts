import { describe, expect, it } from "vitest";
import { exports } from "cloudflare:workers";

describe("the web console", () => {
  it("serves its page at / with a CSP that forbids framing", async () => {
    const res = await exports.default.fetch(new Request("http://crane.test/"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await res.text()).toContain('id="run-dag"');
  });

  it("lays a plan's DAG out with dagre: dependencies flow left to right", async () => {
    const res = await exports.default.fetch(
      new Request("http://crane.test/console/layout", {
        method: "POST",
        headers: { "content-type": "application/json" },
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
    const layout = (await res.json()) as { width: number; nodes: { step: number; x: number; y: number }[]; edges: { from: number; to: number; points: unknown[] }[] };
    const [a, b, c] = layout.nodes;
    expect(a!.x).toBe(b!.x); // the two independent steps share a rank
    expect(a!.y).not.toBe(b!.y);
    expect(c!.x).toBeGreaterThan(a!.x); // the join comes after them
    expect(layout.edges.map((e) => `${e.from}->${e.to}`).sort()).toEqual(["1->3", "2->3"]);
    expect(layout.edges.every((e) => e.points.length >= 2)).toBe(true);
  });

  it("rejects a bad layout request with the error shape", async () => {
    const res = await exports.default.fetch(new Request("http://crane.test/console/layout", { method: "POST", headers: { "content-type": "application/json" }, body: '{"steps":[]}' }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("validation_failed");
  });
});
