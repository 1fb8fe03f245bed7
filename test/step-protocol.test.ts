import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { RunObject } from "../src/durable/run/run-object";
import type { RunEvent } from "../src/durable/run/domain/events";
import { api, createRun, errorOf, getRun, uniq, waitForRun } from "./helpers";
import { shardsHolding } from "./tenant-slots";

const upstream = inject("upstreamUrl");

async function eventsOf(runId: string): Promise<RunEvent[]> {
  const res = await api(`/runs/${runId}/events?limit=1000`);
  return ((await res.json()) as { events: RunEvent[] }).events;
}

describe("inline steps", () => {
  it("run inside the create: the POST answers with the finished run, its events written in the same turn", async () => {
    const res = await api("/runs", { method: "POST", json: { prompt: "calculate (41*7)+13" } });
    expect(res.status).toBe(201);
    const run = (await res.json()) as { run_id: string; status: string; result: unknown; execution_log: { attempts: number; status: string }[] };
    expect(run).toMatchObject({ status: "completed", result: 300 });
    expect(run.execution_log[0]).toMatchObject({ status: "succeeded", attempts: 1 });
    const events = await eventsOf(run.run_id);
    expect(events.map((e) => e.type)).toEqual(["run.created", "plan.accepted", "run.started", "step.started", "step.succeeded", "run.completed"]);
    expect(events[3]!.data).toMatchObject({ step: 1, attempt: 1, executor: "inline", input: { expression: "(41*7)+13" } });
    // Nothing went through the queue.
    const usage = (await (await api(`/runs/${run.run_id}/usage`)).json()) as { queue_messages: number; do_requests: number };
    expect(usage).toMatchObject({ queue_messages: 0, do_requests: 1 });
  });

  it("fail the run in the same turn when the calculation fails", async () => {
    const run = await createRun({ prompt: "calculate 5/0" });
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "division_by_zero" });
  });

  it("hold their step timeout: an attempt measured past it fails with step_timeout", async () => {
    // The run object's clock is injectable: here every reading moves it 100 ms on, so the
    // calculation appears to take 100 ms against a 50 ms timeout.
    const runId = `run_${crypto.randomUUID().replaceAll("-", "")}`;
    const stub = env.RUNS.getByName(runId);
    await runInDurableObject(stub, (instance: RunObject) => {
      let t = Date.now();
      instance.clock = () => (t += 100);
    });
    await stub.create({
      run_id: runId,
      tenant: "dev",
      prompt: null,
      plan: {
        plan_id: "plan_t",
        planner: "explicit",
        steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [], reasoning: "" }],
      },
      options: { step_timeout_ms: 50, retry: { max_attempts: 1 } },
      request_hash: "h",
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      cap: 100,
    });
    const run = await getRun(runId);
    expect(run.status).toBe("failed");
    expect(run.execution_log[0]).toMatchObject({ status: "failed", attempts: 1, error: { code: "step_timeout" } });
  });
});

describe("POST /runs?wait=", () => {
  it("answers with the ended run when it ends within the wait", async () => {
    const res = await api("/runs?wait=10", { method: "POST", json: { prompt: `fetch ${upstream}/ok?delay_ms=200&k=${uniq()}` } });
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toMatch(/^\/api\/v1\/runs\/run_/);
    expect(((await res.json()) as { status: string }).status).toBe("completed");
  });

  it("answers 202 with the run as it stands when the wait runs out first", async () => {
    const res = await api("/runs?wait=0.2", { method: "POST", json: { prompt: `fetch ${upstream}/ok?delay_ms=3000&k=${uniq()}` } });
    expect(res.status).toBe(202);
    const run = (await res.json()) as { run_id: string; status: string };
    expect(run.status).toBe("running");
    expect(res.headers.get("location")).toBe(`/api/v1/runs/${run.run_id}`);
    expect((await waitForRun(run.run_id)).status).toBe("completed");
  });

  it("waits on a replay too, and refuses a wait it cannot honour", async () => {
    const headers = { "idempotency-key": `wait-${uniq()}` };
    const body = { prompt: `fetch ${upstream}/ok?delay_ms=300&k=${uniq()}` };
    const first = await api("/runs", { method: "POST", json: body, headers });
    expect(first.status).toBe(201);
    const replay = await api("/runs?wait=10", { method: "POST", json: body, headers });
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { status: string }).status).toBe("completed");
    for (const bad of ["31", "0", "-1", "soon"]) {
      const res = await api(`/runs?wait=${bad}`, { method: "POST", json: { prompt: "calculate 1 + 1" } });
      expect(res.status, bad).toBe(400);
      expect((await errorOf(res)).code).toBe("invalid_query");
    }
  });
});

/** How many attempts of the run were in flight at once at most, from its own event log. */
function mostInFlight(events: RunEvent[]): number {
  const running = new Set<number>();
  let most = 0;
  for (const e of events) {
    const d = e.data as { step?: number; lease_until?: number };
    if (e.type === "step.started" && d.lease_until !== undefined) running.add(d.step!);
    if (["step.succeeded", "step.failed", "step.retry_scheduled", "step.deferred", "step.skipped"].includes(e.type)) running.delete(d.step!);
    most = Math.max(most, running.size);
  }
  return most;
}

describe("max_parallelism", () => {
  it("holds for retries too: with 1, flaky steps never have two attempts in flight", async () => {
    const key = uniq();
    const steps = [1, 2, 3, 4].map((n) => ({ step_number: n, tool: "Http.get", input: { url: `${upstream}/counted/${key}/s${n}?fail=1&delay_ms=40` } }));
    const run = await createRun({ plan: { steps }, options: { max_parallelism: 1, retry: { max_attempts: 3, initial_delay_ms: 20, max_delay_ms: 40 } } });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log.map((s) => s.attempts)).toEqual([2, 2, 2, 2]);
    // The upstream never saw two requests at once, and the run's own log agrees.
    const seen = (await (await fetch(`${upstream}/max/${key}`)).json()) as { max: number };
    expect(seen.max).toBe(1);
    expect(mostInFlight(await eventsOf(run.run_id))).toBe(1);
  });

  it("lets parallel steps overlap when allowed", async () => {
    const key = uniq();
    const steps = [1, 2, 3].map((n) => ({ step_number: n, tool: "Http.get", input: { url: `${upstream}/counted/${key}/s${n}?fail=0&delay_ms=150` } }));
    const run = await createRun({ plan: { steps } });
    expect((await waitForRun(run.run_id)).status).toBe("completed");
    expect(mostInFlight(await eventsOf(run.run_id))).toBe(3);
  });
});

describe("the run deadline", () => {
  it("fails a run that passes run_timeout_ms with run_timeout, whatever it waits on, and frees its slot", async () => {
    const run = await createRun({ prompt: "wait 60 seconds then calculate 1 + 1", options: { run_timeout_ms: 5000 } });
    const stub = env.RUNS.getByName(run.run_id);
    const slots = async () => (await shardsHolding("dev", run.run_id)).length;
    expect(await slots()).toBe(1);
    await runInDurableObject(stub, (instance: RunObject) => {
      instance.clock = () => Date.now() + 6000;
    });
    await runDurableObjectAlarm(stub);
    const failed = await getRun(run.run_id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({ code: "run_timeout" });
    expect(failed.execution_log.map((s) => [s.status, s.skip_reason])).toEqual([
      ["failed", null],
      ["skipped", "run_timeout"],
    ]);
    expect(await slots()).toBe(0);
  });

  it("refuses a deadline over 30 days", async () => {
    const res = await api("/runs", { method: "POST", json: { prompt: "calculate 1 + 1", options: { run_timeout_ms: 31 * 24 * 3600_000 } } });
    expect(res.status).toBe(400);
  });
});
