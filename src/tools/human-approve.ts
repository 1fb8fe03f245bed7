import { z } from "zod";
import { awaitTool } from "./tool";

export const DEFAULT_APPROVAL_SECONDS = 24 * 3600;
export const MAX_APPROVAL_SECONDS = 30 * 24 * 3600;

/**
 * Human.approve stops the run until someone decides (POST /runs/{id}/steps/{step}/decision). The
 * step waits on the run object's alarm for its timeout, holding no consumer; approve succeeds it
 * (its dependants run), reject fails it for good (and the run with it).
 */
export const humanApprove = awaitTool({
  name: "Human.approve",
  kind: "approval",
  description:
    'Waits for a person to approve or reject before the steps that depend on it run. Reject (or a timeout with on_timeout reject, the default) fails the run. Use it when the task asks for approval first ("ask me before …", "with my approval …", "wait for my approval then …") or before an action that is hard to undo; make the guarded steps depend on it, and say in the message what will happen if approved.',
  input_schema: z.strictObject({
    message: z.string().min(1).max(2000).describe("What the person is asked to approve"),
    timeout_seconds: z
      .number()
      .positive()
      .max(MAX_APPROVAL_SECONDS)
      .default(DEFAULT_APPROVAL_SECONDS)
      .describe("How long to wait for a decision, at most 30 days (default 86400)"),
    on_timeout: z.enum(["reject", "approve"]).default("reject").describe("What no decision within the timeout means (default reject)"),
  }),
  timeoutMs: ({ timeout_seconds }) => Math.round(timeout_seconds * 1000),
  onTimeout: ({ on_timeout }) => on_timeout,
});
