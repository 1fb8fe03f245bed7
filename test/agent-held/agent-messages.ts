// Helpers for the agent-held tests: a scripted model per test, and the messages the run object
// sent for its agents' work, rebuilt from its log.
import { env } from "cloudflare:workers";
import type { RunEventData } from "../../src/durable/run/domain/events";
import { resolveOptions } from "../../src/execution/run-options";
import { stepMessage, type StepMessage } from "../../src/execution/step-protocol";
import type { Json } from "../../src/lib/json";
import { uniq } from "../helpers";
import { events } from "../held/harness";
import { registerScript } from "../llm/scripted-model-client";
import type { ScriptedTurn } from "../llm/scripted-model";

export const modelUrl = env.SCRIPTED_MODEL_URL;

/** Registers a script under a fresh model name (`prefix-…`) and answers the name. */
export async function script(turns: ScriptedTurn[], prefix = "held"): Promise<string> {
  const model = `${prefix}-${uniq()}`;
  await registerScript(modelUrl, model, turns);
  return model;
}

/**
 * The messages the run object has sent for its agents' work, rebuilt from the log: a model call's
 * without its input (the consumer then fetches it, rebuilt from the log), a tool call's with it.
 */
export async function agentMessages(runId: string): Promise<StepMessage[]> {
  const log = await events(runId);
  const created = log.find((e) => e.type === "run.created")!.data as RunEventData["run.created"];
  const base = { run_id: runId, tenant: created.tenant ?? "dev", timeout_ms: resolveOptions(created.options).step_timeout_ms, trace_id: created.trace_id };
  return log.flatMap((e): StepMessage[] => {
    if (e.type === "llm.call_started") {
      const d = e.data as RunEventData["llm.call_started"];
      return [{ v: 2, ...base, step: d.step, attempt: d.attempt, dispatch: e.seq, tool: "LLM.call", lease_until: d.lease_until }];
    }
    if (e.type === "agent.call_started") {
      const d = e.data as RunEventData["agent.call_started"];
      if (d.lease_until === undefined) return [];
      const key = d.idempotency_key ? { idempotency_key: d.idempotency_key } : {};
      return [stepMessage({ ...base, step: d.step, attempt: d.attempt, dispatch: e.seq, tool: d.tool, lease_until: d.lease_until, ...key }, d.input as Json)];
    }
    return [];
  });
}

/** The last message sent for `tool`'s work. */
export const lastOf = async (runId: string, tool: string) => (await agentMessages(runId)).filter((m) => m.tool === tool).at(-1)!;
