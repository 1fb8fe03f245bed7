import { z } from "zod";
import { DEFAULT_APPROVAL_SECONDS, MAX_APPROVAL_SECONDS } from "./human-approve";
import { awaitTool } from "./tool";

/** Signal names go into a URL path (POST /runs/{id}/signals/{name}). */
export const SIGNAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;

/**
 * Wait.signal waits for POST /runs/{id}/signals/{name} and succeeds with the signal's payload, or
 * fails with signal_timeout. A signal sent before the step waits is kept in the run's log and
 * delivered when it starts waiting (as Temporal buffers signals); each waiting step takes one.
 */
export const waitSignal = awaitTool({
  name: "Wait.signal",
  kind: "signal",
  description: "Waits for a named signal (POST /runs/{id}/signals/{name}) and outputs its payload; fails with signal_timeout if none comes in time.",
  input_schema: z.strictObject({
    name: z.string().regex(SIGNAL_NAME, "Use 1-100 characters: letters, digits, '_', '.', ':' and '-'.").describe("The signal's name"),
    timeout_seconds: z
      .number()
      .positive()
      .max(MAX_APPROVAL_SECONDS)
      .default(DEFAULT_APPROVAL_SECONDS)
      .describe("How long to wait for the signal, at most 30 days (default 86400)"),
  }),
  timeoutMs: ({ timeout_seconds }) => Math.round(timeout_seconds * 1000),
  signalName: ({ name }) => name,
});
