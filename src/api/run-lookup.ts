import { runClient, type RunClient } from "../durable/run/run-client";
import { ApiError } from "./errors";
import { RUN_ID } from "./schemas";

/**
 * Finding a run's object for a request. A malformed id, an unknown one and another tenant's all
 * answer the same 404, so a run id reveals nothing to anyone but its owner.
 */
export const runNotFound = (runId: string) => new ApiError(404, "run_not_found", `No run has id "${runId}".`, { run_id: runId });

export function runStub(env: Env, runId: string): RunClient {
  // Ids that cannot be ours are rejected before an object is addressed.
  if (!RUN_ID.test(runId)) throw runNotFound(runId);
  return runClient(env, runId);
}
