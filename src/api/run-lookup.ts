import { ApiError } from "./errors";
import { RUN_ID } from "./schemas";

/** Finding a run's object for a request; a malformed id and an unknown one both answer 404. */
export const runNotFound = (runId: string) => new ApiError(404, "run_not_found", `No run has id "${runId}".`);

export function runStub(env: Env, runId: string) {
  // Ids that cannot be ours are rejected before an object is addressed.
  if (!RUN_ID.test(runId)) throw runNotFound(runId);
  return env.RUNS.getByName(runId);
}

/** The run's object, once it is known to hold a run. */
export async function existingRun(env: Env, runId: string) {
  const stub = runStub(env, runId);
  if (!(await stub.getRun())) throw runNotFound(runId);
  return stub;
}
