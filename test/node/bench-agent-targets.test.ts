import { describe, expect, it } from "vitest";
import type { AgentResult } from "../../bench/lib/agent.ts";
import { agentTargets } from "../../bench/lib/agent-report.ts";

// The benchmark's verdicts on issue 30's targets: each from the numbers it was given, so a report
// cannot say PASS for a result that misses a target.
function result(wallMs: number, burstS: number, extra: Partial<AgentResult> = {}): AgentResult {
  return {
    single: { runs: 10, failed: 0, wall_ms_median: wallMs, wall_ms_p90: wallMs, wall_ms_min: wallMs },
    burst: { runs: 200, completed: 200, errors: 0, submit_s: 1, wall_s: burstS, done_p50_s: burstS },
    model_calls_per_run: 6,
    ...extra,
  };
}

const ops = (doPerTurn: number, queuePerCall: number): AgentResult["operations"] => ({
  samples: 5,
  model_calls: 6,
  tool_calls: 5,
  do_requests: doPerTurn * 6,
  shared_requests: 0,
  breaker_requests: 0,
  storage_rows_written: 10,
  queue_messages: queuePerCall * 11,
  queued_attempts: 11,
  d1_rows_written: 1,
  own_requests_per_turn: doPerTurn,
  do_requests_per_turn: doPerTurn,
  do_requests_per_turn_with_breakers: doPerTurn,
  queue_messages_per_queued_call: queuePerCall,
});

const verdicts = (r: Record<string, AgentResult>) => agentTargets(r).map((t) => t.verdict);

describe("agent targets", () => {
  it("passes every target a result meets, at the boundaries", () => {
    const crane = result(407, 10, { operations: ops(2, 1) });
    expect(verdicts({ floor: result(370, 5), crane, workflows: result(427, 15.8) })).toEqual(["PASS", "PASS", "PASS", "PASS", "PASS", "PASS"]);
  });

  it("fails each target a result misses", () => {
    const crane = result(420, 16, { operations: ops(2.1, 1.2), burst: { runs: 200, completed: 199, errors: 0, submit_s: 1, wall_s: 16, done_p50_s: 9 } });
    expect(verdicts({ floor: result(370, 5), crane, workflows: result(419, 15.8) })).toEqual(["FAIL", "FAIL", "FAIL", "FAIL", "FAIL", "FAIL"]);
  });

  it("counts the tenant limiter's requests in the total, and the run object's alone apart", () => {
    // 15 requests a run: 13 to the run object, 2 to the limiter (its slot taken and given back); 6 model calls.
    const o = { ...ops(15 / 6, 1)!, shared_requests: 2, own_requests_per_turn: 2.17, do_requests_per_turn: 2.5, do_requests_per_turn_with_breakers: 2.6 };
    const target = agentTargets({ crane: result(400, 10, { operations: o }) }).find((t) => t.target.startsWith("at most 2 Durable Object requests"))!;
    expect(target).toMatchObject({ measured: "2.6 (run object alone 2.17)", verdict: "FAIL" });
  });

  it("says not measured when a system it needs did not run", () => {
    expect(verdicts({ crane: result(400, 10) })).toEqual(["not measured", "not measured", "not measured", "not measured", "PASS", "not measured"]);
  });
});
