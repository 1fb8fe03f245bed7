// Executes one dispatched step: the message carries the resolved input, the timeout and the
// lease, so the consumer asks the run object nothing first (except, for a tool with side effects,
// one pre-flight check, and for a message that waited most of its lease away, one renewal). It
// runs the tool under the step's timeout and reports once. The run object decides everything else
// (retries, what runs next); a duplicate or late message is harmless because only the first report
// for the current dispatch counts.
import type { Outcome, StepMessage } from "../execution/step-protocol";
import type { Json } from "../lib/json";
import { errorFields, log } from "../lib/log";
import { invalidInput, stepError } from "../execution/step-error";
import { otlpExporter } from "../lib/otel/exporter";
import { newSpanId } from "../lib/trace";
import { implementationOf } from "../tools/implementations";
import type { QueueToolImpl } from "../tools/tool-impl";
import { attemptSpans, SpanList, type AttemptTrace } from "./attempt-span";
import { admit, recordOutcome } from "./breaker-gate";
import type { ReportBatcher } from "./report-batcher";

/** A tool's outcome; `retry_at`: it was turned away before it acted, and the attempt is given back (see ToolResult). */
type RunOutcome = Outcome & { retry_at?: number };

async function runTool(tool: QueueToolImpl, input: unknown, msg: StepMessage, env: Env, trace: AttemptTrace): Promise<RunOutcome> {
  const parsed = tool.input_schema.safeParse(input);
  if (!parsed.success) return { success: false, error: invalidInput(tool.name, parsed.error.issues) };
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    // A tool that ignores its abort signal still loses the race against this timer.
    timer = setTimeout(() => {
      controller.abort();
      resolve({ success: false, error: stepError("step_timeout", `${tool.name} did not finish within ${msg.timeout_ms} ms.`) });
    }, msg.timeout_ms);
  });
  const execution = tool
    .execute(parsed.data, {
      env,
      run_id: msg.run_id,
      tenant: msg.tenant,
      step_number: msg.step,
      attempt: msg.attempt,
      dispatch: msg.dispatch,
      signal: controller.signal,
      timeout_ms: msg.timeout_ms,
      idempotency_key: msg.idempotency_key ?? `${msg.run_id}:${msg.step}`,
      watched: msg.unwatched !== true,
      ...trace,
    })
    .then((r): RunOutcome =>
      r.success
        ? { success: true, output: r.output as Json }
        : { success: false, error: r.error, ...(r.retry_at !== undefined ? { retry_at: r.retry_at } : {}) },
    )
    .catch((err: unknown): Outcome => {
      // A tool that throws is a bug or an infrastructure hiccup, not bad input: worth another try.
      log.error("tool.threw", { run_id: msg.run_id, step: msg.step, tool: tool.name, ...errorFields(err) });
      return { success: false, error: stepError("tool_crashed", `${tool.name} failed unexpectedly: ${(err as Error)?.message ?? String(err)}`) };
    });
  try {
    return await Promise.race([execution, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Whether the tool may change something, asked of the tool when it decides per tenant (an MCP server's annotations). */
async function hasEffects(tool: QueueToolImpl, env: Env, tenant: string, fields: Record<string, unknown>): Promise<boolean> {
  if (!tool.effectsFor) return tool.effects;
  try {
    return await tool.effectsFor(env, tenant);
  } catch (err) {
    log.warn("step.effects_unknown", { ...fields, ...errorFields(err) });
    return tool.effects;
  }
}

/**
 * Runs the step; reports through `reporter`, or tells it the message ended without a report.
 * `queueMs`: how long the message waited for a consumer, reported with the outcome. Answers the
 * messages the run object handed over in reply to the report (run them with `continueSteps`).
 */
export async function executeStep(msg: StepMessage, env: Env, reporter: ReportBatcher, queueMs?: number): Promise<StepMessage[]> {
  let next: StepMessage[] | null = null;
  try {
    next = await execute(msg, env, reporter, queueMs);
  } finally {
    if (next === null) reporter.finished(msg.run_id);
  }
  return next ?? [];
}

/** Runs handed-over messages, and the ones their reports hand over in turn, concurrently. */
export async function continueSteps(messages: readonly StepMessage[], env: Env, reporter: ReportBatcher): Promise<void> {
  await Promise.all(
    messages.map(async (msg) => {
      try {
        await continueSteps(await executeStep(msg, env, reporter), env, reporter);
      } catch (err) {
        // Its lease stands: the run object sends it again, or retries it, as for a lost message.
        log.error("queue.step_error", { run_id: msg.run_id, step: msg.step, dispatch: msg.dispatch, granted: true, ...errorFields(err) });
      }
    }),
  );
}

/** The step's report's answer (the messages handed over, possibly none), or null when it made no report. */
async function execute(msg: StepMessage, env: Env, reporter: ReportBatcher, queueMs?: number): Promise<StepMessage[] | null> {
  const run = env.RUNS.getByName(msg.run_id);
  // One span per step attempt, in the run's trace. When spans are exported, the attempt's (and its
  // tool's) ride with the report to the run object, which exports them with its own: the
  // consumer makes no export of its own, so a slow collector never holds a batch.
  const trace: AttemptTrace = { trace_id: msg.trace_id, span_id: newSpanId(), ...(otlpExporter(env) ? { spans: new SpanList() } : {}) };
  const began = Date.now();
  const fields = {
    run_id: msg.run_id,
    tenant: msg.tenant,
    step: msg.step,
    tool: msg.tool,
    attempt: msg.attempt,
    dispatch: msg.dispatch,
    ...(msg.copy !== undefined ? { copy: msg.copy } : {}),
    trace_id: trace.trace_id,
    span_id: trace.span_id,
  };
  const tool = implementationOf(msg.tool);
  if (!tool) {
    const outcome: Outcome = { success: false, error: stepError("unknown_tool", `No queue tool is named "${msg.tool}".`) };
    return reporter.report(msg.run_id, { step: msg.step, dispatch: msg.dispatch, outcome, ...attemptSpans(msg, trace, began, outcome) });
  }
  const leaseLeft = msg.lease_until - Date.now();
  if (leaseLeft <= 0) {
    // The run object has taken this dispatch back already (or is about to): running it would be wasted.
    log.warn("step.message_expired", fields);
    return null;
  }
  // The tool's breaker first: while it is open the step waits without calling the tool or using up an attempt.
  const breaker = tool.breaker ?? msg.tool;
  const gate = await admit(env, msg.tenant, breaker, msg.run_id);
  if (!gate.allowed) {
    await run.defer(msg.step, msg.dispatch, gate.retry_at, gate.error);
    log.debug("step.deferred", { ...fields, retry_at: new Date(gate.retry_at).toISOString() });
    return null;
  }
  // The message waited so long (behind a backlog) that the run object could take the step back,
  // and dispatch it again, while the tool is still within its timeout: two attempts of one step at
  // once, and a side effect's pre-flight would not stop the second (it has a dispatch of its own).
  // So it asks the run object to renew its lease from now first; that request is its pre-flight
  // too. Refused (the lease has passed, or another delivery has it), it does nothing: the run
  // object has the attempt in hand. Before this, such a message was refused and the step retried,
  // and the retry waited out the same backlog at its end.
  // (A message handed over in a report's reply runs the moment it is handed over, under a fresh lease.)
  const late = !msg.granted && leaseLeft < msg.timeout_ms;
  // A message handed over in a report's reply was let through its pre-flight as it was handed over.
  if (late || (!msg.granted && (msg.copy !== undefined || (await hasEffects(tool, env, msg.tenant, fields))))) {
    // A tool with side effects asks first, so a cancelled run or a duplicate delivery does nothing.
    // So does a copy the run object sent again: if its original did arrive and has reported, the
    // copy does nothing; a copy is rare (a step with no report by its resend time), the check cheap.
    const go = late ? await run.renewLease(msg.step, msg.dispatch, msg.timeout_ms) : await run.preflight(msg.step, msg.dispatch);
    if (!go.go) {
      log.debug(late ? "step.renew_refused" : "step.preflight_refused", { ...fields, reason: go.reason, ...(late ? { lease_left_ms: leaseLeft } : {}) });
      if (gate.probe) await recordOutcome(env, msg.tenant, breaker, "released", true);
      return null;
    }
    if (late) log.debug("step.lease_renewed", { ...fields, lease_left_ms: leaseLeft, lease_until: go.lease_until });
  }
  let input: unknown = msg.input;
  if (input === undefined) {
    // Too large for the message: fetch it from the run object.
    const fetched = await run.stepInput(msg.step, msg.dispatch);
    if (fetched === null) return null;
    input = JSON.parse(fetched);
  }
  const started = Date.now();
  const { retry_at: retryAt, ...outcome } = await runTool(tool, input, msg, env, trace);
  if (!outcome.success && retryAt !== undefined) {
    // Turned away before it acted (a model call over its tenant's cap): it waits, as on an open breaker.
    if (gate.probe) await recordOutcome(env, msg.tenant, breaker, "released", true);
    await run.defer(msg.step, msg.dispatch, retryAt, outcome.error);
    log.debug("step.deferred", { ...fields, code: outcome.error.code, retry_at: new Date(retryAt).toISOString() });
    return null;
  }
  // One line per attempt repeats what the run's log holds durably (and each is a billed Workers
  // Logs event): a success is debug; a failure is a warning, as the run's own failure lines are.
  (outcome.success ? log.debug : log.warn)(outcome.success ? "tool.succeeded" : "tool.failed", {
    ...fields,
    duration_ms: Date.now() - started,
    ...(outcome.success ? {} : { code: outcome.error.code }),
  });
  // A failure might open the breaker, and the run records breaker.opened beside the failed
  // attempt; a success is only counted (or, for a probe, recorded beside the report).
  const recording = recordOutcome(env, msg.tenant, breaker, outcome, gate.probe);
  const opened = outcome.success ? undefined : await recording;
  const [, next] = await Promise.all([
    outcome.success ? recording : undefined,
    reporter.report(msg.run_id, {
      step: msg.step,
      dispatch: msg.dispatch,
      outcome,
      ...(opened ? { opened } : {}),
      ...(queueMs !== undefined ? { queue_ms: queueMs } : {}),
      ...attemptSpans(msg, trace, began, outcome),
    }),
  ]);
  return next;
}
