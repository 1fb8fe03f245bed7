import { z } from "zod";
import { runOptionsSchema } from "../execution/run-options";
import { planInputSchema } from "../planner/plan-schema";

/** Request schemas of the HTTP API. Unknown fields are rejected everywhere. */
export const createRunBodySchema = z
  .strictObject({
    prompt: z.string().optional(),
    plan: planInputSchema.optional(),
    options: runOptionsSchema.optional(),
  })
  .refine((b) => (b.prompt === undefined) !== (b.plan === undefined), { message: 'Give exactly one of "prompt" or "plan".' });
export type CreateRunBody = z.infer<typeof createRunBodySchema>;

/** POST /runs?wait=N: answer once the run has ended, waiting at most N seconds (0 < N <= 30). */
export const createRunQuerySchema = z.strictObject({
  wait: z.coerce.number().positive().max(30).optional().describe("Seconds to wait for the run to end before answering (at most 30)"),
});

export const planBodySchema = z.strictObject({ prompt: z.string() });

export const RUN_ID = /^run_[0-9a-f]{32}$/;

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: "Use an ISO 8601 date or time." }).transform((s) => new Date(s).toISOString());

export const listRunsQuerySchema = z.strictObject({
  status: z.enum(["pending", "running", "completed", "failed", "cancelled"]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
  created_after: isoDate.optional(),
  created_before: isoDate.optional(),
});

export const listEventsQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** `after` for the WebSocket and SSE subscriptions: events after this seq (default 0, all). */
export const afterQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).optional(),
  /** A watch token (POST /runs/{id}/watch-token) in place of the Authorization header, for browsers. */
  token: z.string().max(100).optional(),
});

/** Tenant names: lower-case, URL- and log-safe. */
export const tenantSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "Use 1-63 characters: a-z, 0-9, '_' and '-', starting with a letter or digit.");

export const createKeyBodySchema = z.strictObject({
  name: z.string().trim().min(1).max(100).describe("What the key is for, shown in listings"),
  tenant: tenantSchema.describe("The tenant the key acts for"),
});

export const listKeysQuerySchema = z.strictObject({
  tenant: tenantSchema.optional(),
  include_revoked: z.enum(["true", "false"]).default("false"),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const KEY_ID = /^key_[0-9a-f]{20}$/;
