// The one typed client of a run object. RPC stub types flatten what they cannot follow (the
// run's JSON payloads are typed loosely, and a union result comes back widened), so the stub is
// read through the contract the object implements (contract.ts), once, here.
import type { RunRpc } from "./contract";

export type RunClient = RunRpc;

export function runClient(env: Env, runId: string): RunClient {
  return env.RUNS.getByName(runId) as unknown as RunClient;
}
