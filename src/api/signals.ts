import { createRoute, z } from "@hono/zod-openapi";
import { SIGNAL_NAME } from "../tools/wait-signal";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { runNotFound, runStub } from "./run-lookup";
import { runIdParamsSchema } from "./schemas";

/** POST /runs/{id}/signals/{name}: a signal for the run's Wait.signal steps. */
export const signalsApi = createApi();

const signalParamsSchema = runIdParamsSchema.extend({
  name: z
    .string()
    .regex(SIGNAL_NAME, "Use 1-100 characters: letters, digits, '_', '.', ':' and '-'.")
    .openapi({ description: "The signal's name", example: "payment_received" }),
});

export const signalBodySchema = z
  .strictObject({ payload: z.unknown().optional().describe("Any JSON (the whole body is at most 64 KiB); the waiting step's output. Absent: null") })
  .openapi("SignalRequest");

const signalAcceptedSchema = z
  .object({
    run_id: z.string(),
    name: z.string(),
    seq: z.number().int().describe("The signal.received event's seq"),
    delivered_to: z.number().int().nullable().describe("The Wait.signal step that took it; null: kept until a step waits for it"),
  })
  .openapi("SignalAccepted");

const send = createRoute({
  method: "post",
  operationId: "sendSignal",
  path: "/runs/{run_id}/signals/{name}",
  tags: ["Runs"],
  summary: "Send a signal to a run",
  description:
    "The waiting Wait.signal step for this name takes it at once; otherwise it is kept and delivered when such a step starts waiting. Each waiting step takes one signal; the rest stay in the log. A run that has ended answers 409.",
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  request: { params: signalParamsSchema, body: jsonRequest(signalBodySchema, "The signal's payload") },
  responses: { 202: jsonResponse(signalAcceptedSchema, "Recorded"), ...errors(400, 404, 409, 413, 415, 429), ...ACCESS.apiKey.responses },
});

signalsApi.openapi(send, async (c) => {
  const { run_id: runId, name } = c.req.valid("param");
  const { payload = null } = c.req.valid("json");
  const result = await runStub(c.env, runId).signal(c.var.principal.tenant, name, payload);
  if (result.ok) return c.json({ run_id: runId, name, seq: result.seq, delivered_to: result.delivered_to }, 202);
  if (result.code === "run_not_found") throw runNotFound(runId);
  if (result.code === "too_many_signals") throw new ApiError(429, result.code, result.message, { limit: result.limit });
  throw new ApiError(409, result.code, result.message);
});
