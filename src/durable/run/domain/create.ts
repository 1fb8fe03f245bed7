// The command that creates a run: its first events, written together as one row, then the first
// advance (a run whose steps are all inline ends in this very command).
import type { Plan } from "../../../execution/plan-schema";
import type { RunOptions } from "../../../execution/run-options";
import { optionsFor } from "./control";
import { advance } from "./decide";
import type { ParentLink, RunLlm, RunSchedule } from "./events";
import type { Machine } from "./machine";
import { emitReused, type RerunSeed } from "./rerun-seed";

export interface NewRun {
  run_id: string;
  tenant: string;
  prompt: string | null;
  plan: Plan;
  options: RunOptions;
  request_hash: string;
  trace_id: string;
  parent_span_id?: string;
  retention_days?: number;
  schedule?: RunSchedule;
  webhook?: { url: string };
  rerun?: RerunSeed;
  parent?: ParentLink;
  /** Whether it took a slot under its tenant's cap. */
  holds_slot: boolean;
  /** The limiter shard that granted it. */
  slot_shard?: number;
  /** The event types its tenant's webhooks want. */
  webhook_events: string[];
  /** A run with Agent.run steps: its default model and prices. */
  llm?: RunLlm;
}

export function createRun(m: Machine, r: NewRun): void {
  m.emit("run.created", {
    run_id: r.run_id,
    tenant: r.tenant,
    prompt: r.prompt,
    options: optionsFor(r.options, r.plan.steps),
    request_hash: r.request_hash,
    trace_id: r.trace_id,
    ...(r.parent_span_id ? { parent_span_id: r.parent_span_id } : {}),
    ...(r.retention_days ? { retention_days: r.retention_days } : {}),
    holds_slot: r.holds_slot,
    ...(r.slot_shard ? { slot_shard: r.slot_shard } : {}),
    ...(r.schedule ? { schedule: r.schedule } : {}),
    ...(r.webhook ? { webhook: r.webhook } : {}),
    ...(r.webhook_events.length ? { webhook_events: r.webhook_events } : {}),
    ...(r.rerun ? { rerun_of: r.rerun.of } : {}),
    ...(r.parent ? { parent: r.parent } : {}),
    ...(r.llm ? { llm: r.llm } : {}),
  });
  m.emit("plan.accepted", { plan: r.plan });
  emitReused(m, r.rerun);
  advance(m);
}
