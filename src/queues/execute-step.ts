import { errorFields, log } from "../lib/log";
import { stepError } from "../lib/step-error";
import type { RunObject } from "../durable/run-object";
import type { BreakerOpened, ClaimResult, Outcome } from "../durable/run-machine";
import { getTool } from "../tools/registry";
import { newSpanId, newTraceId } from "../lib/trace";
import { admit, recordOutcome } from "./breaker-gate";
import type { StepMessage } from "./step-message";

/**
 * Executes one step attempt: claim it from the run object (which resolves its input and starts
 * its lease), run the tool under the step's timeout, report the outcome. The run object decides
 * everything else (retries, what runs next), so a duplicate message only loses its claim.
 */
const REPORT_TRIES = 3;

async function runTool(toolName: string, input: unknown, msg: StepMessage, tenant: string, timeoutMs: number, env: Env, trace: { trace_id: string; span_id: string }): Promise<Outcome> {
  const tool = getTool(toolName);
  if (!tool) return { success: false, error: stepError("unknown_tool", `No tool is named "${toolName}".`) };
  const parsed = tool.input_schema.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ");
    return { success: false, error: stepError("invalid_input", `${toolName} got an input it cannot use after resolving references: ${detail}`) };
  }
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    // A tool that ignores its abort signal still loses the race against this timer.
    timer = setTimeout(() => {
      controller.abort();
      resolve({ success: false, error: stepError("step_timeout", `${toolName} did not finish within ${timeoutMs} ms.`, { retryable: true }) });
    }, timeoutMs);
  });
  const execution = tool
    .execute(parsed.data, {
      env,
      run_id: msg.run_id,
      tenant,
      step_number: msg.step,
      attempt: msg.attempt,
      signal: controller.signal,
      idempotency_key: `${msg.run_id}:${msg.step}`,
      ...trace,
    })
    .then((r): Outcome => (r.success ? { success: true, output: r.output } : { success: false, error: r.error }))
    .catch((err: unknown): Outcome => {
      // A tool that throws is a bug or an infrastructure hiccup, not bad input: worth another try.
      log.error("tool.threw", { run_id: msg.run_id, step: msg.step, tool: toolName, ...errorFields(err) });
      return { success: false, error: stepError("tool_crashed", `${toolName} failed unexpectedly: ${(err as Error)?.message ?? String(err)}`, { retryable: true }) };
    });
  try {
    return await Promise.race([execution, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export async function executeStep(msg: StepMessage, env: Env): Promise<void> {
  const run = env.RUNS.getByName(msg.run_id);
  // One span per step attempt, in the run's trace.
  const trace = { trace_id: msg.trace_id ?? newTraceId(), span_id: newSpanId() };
  const fields = { run_id: msg.run_id, tenant: msg.tenant, step: msg.step, tool: msg.tool, attempt: msg.attempt, ...trace };
  // The tool's breaker first: while it is open the step waits without calling the tool or
  // using up an attempt.
  const gate = msg.tool ? await admit(env, msg.tenant, msg.tool, msg.run_id) : ({ allowed: true, probe: false } as const);
  if (!gate.allowed) {
    await run.defer(msg.step, msg.attempt, gate.retry_at, gate.error);
    log.info("step.deferred", { ...fields, tool: msg.tool, retry_at: new Date(gate.retry_at).toISOString() });
    return;
  }
  const claimed = (await run.claim(msg.step, msg.attempt)) as ClaimResult; // RPC types flatten the union
  if (!claimed.ok) {
    // A duplicate, stale or cancelled attempt: nothing to do, but give back a probe slot.
    if (gate.probe && msg.tool) await recordOutcome(env, msg.tenant, msg.tool, "released", true);
    return;
  }
  const started = Date.now();
  const outcome = await runTool(claimed.tool, claimed.input, msg, claimed.tenant, claimed.timeout_ms, env, trace);
  const duration_ms = Date.now() - started;
  log.info(outcome.success ? "tool.succeeded" : "tool.failed", { ...fields, tool: claimed.tool, duration_ms, ...(outcome.success ? {} : { code: outcome.error.code }) });
  // A success can never open a breaker, so its record runs beside the report instead of before it;
  // a failure might, and the run records breaker.opened together with the failed attempt.
  const guarded = getTool(claimed.tool)?.executor === "queue";
  const recording = guarded && outcome.success ? recordOutcome(env, claimed.tenant, claimed.tool, outcome, gate.probe) : undefined;
  const opened = guarded && !outcome.success ? await recordOutcome(env, claimed.tenant, claimed.tool, outcome, gate.probe) : undefined;
  await Promise.all([recording, reportOutcome(run, msg, outcome, opened, fields)]);
}

async function reportOutcome(run: DurableObjectStub<RunObject>, msg: StepMessage, outcome: Outcome, opened: BreakerOpened | undefined, fields: Record<string, unknown>): Promise<void> {
  // The report is retried a few times in place; if it never lands, the lease expires and the
  // run object re-runs the step, which the tools' idempotency keys make safe.
  for (let i = 1; ; i++) {
    try {
      await run.report(msg.step, msg.attempt, outcome, opened);
      return;
    } catch (err) {
      if (i >= REPORT_TRIES) throw err;
      log.warn("step.report_retry", { ...fields, try: i, ...errorFields(err) });
      await new Promise((r) => setTimeout(r, 50 * i));
    }
  }
}
