// Which steps a rerun takes over: planRerun is pure, so its rules are checked on run resources
// built by hand, without running anything.
import { describe, expect, it } from "vitest";
import { planRerun } from "../src/durable/run/rerun";
import type { RunResource } from "../src/durable/run/run-view";
import { firstStepToRerun } from "../src/durable/bulk/bulk-job";

type Spec = { n: number; deps?: number[]; status?: string; tool?: string };

function ended(specs: Spec[], extra: Partial<RunResource> = {}): RunResource {
  const steps = specs.map((s) => ({
    step_number: s.n,
    tool: s.tool ?? "Http.get",
    input: { url: `https://example.com/${s.n}` },
    depends_on: s.deps ?? [],
    reasoning: "",
  }));
  return {
    status: "failed",
    plan: { plan_id: "plan_x", planner: "explicit", steps },
    execution_log: specs.map((s) => ({
      step_number: s.n,
      tool: s.tool ?? "Http.get",
      input: { url: `https://example.com/${s.n}`, resolved: true },
      status: s.status ?? "succeeded",
      output: { n: s.n },
    })),
    compensation: null,
    ...extra,
  } as unknown as RunResource;
}

const reusedOf = (r: ReturnType<typeof planRerun>) => (r.ok ? r.reused.map((x) => x.step) : r.code);

describe("planRerun", () => {
  it("reuses what does not depend on the step, directly or through others, with the recorded input and output", () => {
    // 1 → 2 → 3 → 4, and 5 alone, 6 after 5 and 3.
    const run = ended([{ n: 1 }, { n: 2, deps: [1] }, { n: 3, deps: [2] }, { n: 4, deps: [3] }, { n: 5 }, { n: 6, deps: [5, 3] }]);
    const r = planRerun(run, { from_step: 2 });
    expect(reusedOf(r)).toEqual([1, 5]);
    expect(r.ok && r.reused[0]).toEqual({ step: 1, input: { url: "https://example.com/1", resolved: true }, output: { n: 1 } });
  });

  it("runs again what did not succeed, what compensation touched, and what depends on either", () => {
    const run = ended([{ n: 1 }, { n: 2, deps: [1] }, { n: 3, status: "skipped" }, { n: 4, deps: [3] }, { n: 5, status: "failed" }], {
      compensation: { status: "completed", reason: "run_failed", error: null, steps: [{ step_number: 1, status: "succeeded" }] },
    } as unknown as Partial<RunResource>);
    expect(reusedOf(planRerun(run, { from_step: 5 }))).toEqual([]);
  });

  it("applies the input's changes to the step, and reuses only matching steps of another plan", () => {
    const run = ended([{ n: 1 }, { n: 2 }, { n: 3, deps: [1, 2] }]);
    const r = planRerun(run, { from_step: 3, input: { url: "https://example.com/new" } });
    expect(r.ok && r.plan.steps[2]!.input).toEqual({ url: "https://example.com/new" });
    const other = planRerun(run, {
      from_step: 3,
      plan: {
        steps: [
          { step_number: 1, tool: "Http.get", input: { url: "https://example.com/1" }, depends_on: [] },
          { step_number: 2, tool: "Http.get", input: { url: "https://example.com/changed" }, depends_on: [] },
          { step_number: 3, tool: "Http.get", input: { url: "https://example.com/3" }, depends_on: [1, 2] },
        ],
      },
    });
    expect(reusedOf(other)).toEqual([1]);
  });

  it("refuses a run in flight and a step the plan does not have", () => {
    expect(reusedOf(planRerun(ended([{ n: 1 }], { status: "running" }), { from_step: 1 }))).toBe("run_not_ended");
    expect(reusedOf(planRerun(ended([{ n: 1 }]), { from_step: 2 }))).toBe("invalid_from_step");
  });

  it("a bulk rerun starts at the first failed step, else the first that did not succeed", () => {
    expect(firstStepToRerun(ended([{ n: 1 }, { n: 2, status: "skipped" }, { n: 3, status: "failed" }]))).toBe(3);
    expect(firstStepToRerun(ended([{ n: 1 }, { n: 2, status: "skipped" }]))).toBe(2);
    expect(firstStepToRerun(ended([{ n: 1 }]))).toBeNull();
  });
});
