import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, onTestFinished, vi } from "vitest";
import worker from "../../src/index";
import { consumeSteps } from "../../src/queues/step-consumer";
import type { RunObject } from "../../src/durable/run/run-object";
import type { RunEvent, RunEventData } from "../../src/durable/run/domain/events";
import { resolveOptions } from "../../src/execution/run-options";
import { stepMessage, type StepMessage } from "../../src/execution/step-protocol";
import type { Json } from "../../src/lib/json";
import { DEV_TENANT } from "../../src/auth/api-keys";
import type { QueueToolImpl } from "../../src/tools/tool-impl";
import { SETTLE } from "../helpers";
import { rowOnAnyShard } from "../read-model";

/**
 * In the "held" project the run objects' step messages go to a queue nobody consumes; these
 * helpers play the queue: they deliver what the run object queued, as often and in whatever
 * order a test wants, through the Worker's real queue handler.
 */
let delivery = 0;

export async function deliver(...messages: StepMessage[]) {
  return deliverTo("crane-steps", ...messages);
}

/**
 * Delivers on a named queue (the dead-letter queue, say) through the step consumer, without
 * continuation: each next step goes to the (held) queue, so a test plays every message itself.
 */
export async function deliverTo(queue: string, ...messages: StepMessage[]) {
  return consume(queue, messages, (batch) => consumeSteps(batch, env, { continuation: false }));
}

/**
 * Delivers through the Worker's own queue handler, which continues: the consumer runs the work
 * its reports hand over (domain/continuation.ts) before the batch ends, as in production.
 */
export async function deliverContinuing(...messages: StepMessage[]) {
  return consume("crane-steps", messages, (batch) => worker.queue!(batch, env));
}

async function consume(queue: string, messages: StepMessage[], handler: (batch: MessageBatch<unknown>) => Promise<void>) {
  const batch = createMessageBatch<StepMessage>(
    queue,
    messages.map((body) => ({ id: `msg-${++delivery}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await handler(batch as MessageBatch<unknown>);
  return getQueueResult(batch, ctx);
}

/**
 * Counts a queue tool's executions for one run, from now to the end of the test. deliver() calls
 * the Worker's queue handler in this isolate, and the consumer takes its tools from the same
 * implementation modules the test imports, so a spy on the tool object (which calls through to the real
 * tool) sees every execution: a duplicate that got past the pre-flight counts here even when the
 * tool's idempotency key leaves no trace of it in the data.
 */
export function executions(tool: QueueToolImpl): (runId: string) => number {
  const spy = vi.spyOn(tool, "execute");
  onTestFinished(() => spy.mockRestore());
  return (runId) => spy.mock.calls.filter(([, ctx]) => ctx.run_id === runId).length;
}

export async function events(runId: string): Promise<RunEvent[]> {
  const page = (await env.RUNS.getByName(runId).listEvents(DEV_TENANT, 0, 1000)) as { events: RunEvent[] } | null;
  return page?.events ?? [];
}

/**
 * The messages the run object has sent so far, in order: one per queued dispatch (a step.started
 * or compensation.step_started event with a lease), and one per copy of one (step.resent), rebuilt
 * from the log exactly as the object built them.
 */
export async function sentMessages(runId: string): Promise<StepMessage[]> {
  const log = await events(runId);
  const created = log.find((e) => e.type === "run.created")!.data as RunEventData["run.created"];
  const plan = (log.find((e) => e.type === "plan.accepted")!.data as RunEventData["plan.accepted"]).plan;
  const timeout = resolveOptions(created.options).step_timeout_ms;
  let undoTools = new Map<number, string>();
  const sent: StepMessage[] = [];
  for (const e of log) {
    if (e.type === "step.resent") {
      const { dispatch } = e.data as RunEventData["step.resent"];
      const original = sent.find((m) => m.dispatch === dispatch && m.copy === undefined)!;
      sent.push({ ...original, copy: sent.filter((m) => m.dispatch === dispatch).length });
      continue;
    }
    if (e.type === "compensation.started") undoTools = new Map((e.data as RunEventData["compensation.started"]).steps.map((s) => [s.step, s.tool]));
    if (e.type !== "step.started" && e.type !== "compensation.step_started") continue;
    const d = e.data as RunEventData["step.started"] | RunEventData["compensation.step_started"];
    if (d.lease_until === undefined) continue;
    const tool = e.type === "step.started" ? plan.steps.find((s) => s.step_number === d.step)!.tool : undoTools.get(d.step)!;
    sent.push(
      stepMessage(
        {
          run_id: runId,
          tenant: created.tenant ?? DEV_TENANT,
          step: d.step,
          attempt: d.attempt,
          dispatch: e.seq,
          tool,
          timeout_ms: timeout,
          lease_until: d.lease_until,
          trace_id: created.trace_id,
          ...(d.idempotency_key ? { idempotency_key: d.idempotency_key } : {}),
        },
        d.input as Json,
      ),
    );
  }
  return sent;
}

export function stub(runId: string) {
  return env.RUNS.getByName(runId);
}

export async function eventTypes(runId: string): Promise<string[]> {
  return (await events(runId)).map((e) => e.type);
}

/**
 * Moves the run object's clock `ms` ahead of real time (the object reads it for every deadline and
 * event time), so a test reaches a lease's or timer's end without sleeping.
 */
export async function advanceClock(runId: string, ms: number): Promise<void> {
  await runInDurableObject(stub(runId), (instance: RunObject) => {
    instance.clock = () => Date.now() + ms;
  });
}

/** Runs the watchdog now, whether or not the runtime already fired the alarm on its own. */
export async function watchdog(runId: string): Promise<void> {
  await runDurableObjectAlarm(stub(runId));
}

/** The run's D1 row once the background projection has written `status`; fails if it never does. */
export async function projectedRow(runId: string, status: string): Promise<Record<string, unknown>> {
  return vi.waitFor(async () => {
    const row = await rowOnAnyShard<Record<string, unknown>>("SELECT * FROM runs WHERE run_id = ?", runId);
    expect(row?.status, `run ${runId}'s D1 row`).toBe(status);
    return row!;
  }, SETTLE);
}
