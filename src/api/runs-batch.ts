import { createRoute, z } from "@hono/zod-openapi";
import { startRun } from "../durable/run/start-run";
import { errorFields, log } from "../lib/log";
import { errorBody, errorBodySchema } from "./error-shape";
import { ApiError, zodDetails } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { takeUnits } from "./middleware/rate-limit";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { runSchema } from "./response-schemas";
import { agentRunSchema, IDEMPOTENCY_KEY, planRunSchema, promptRunSchema } from "./schemas";
import { runSource, startRefusal } from "./runs";

/** POST /runs/batch: up to 100 runs in one request, each created as POST /runs would. */
export const runsBatchApi = createApi();

export const MAX_BATCH_RUNS = 100;
/** Items started at once: a batch is one request's work, and each item is a planner call and a run object's create. */
const CONCURRENCY = 10;

const idempotencyKey = z
  .string()
  .regex(IDEMPOTENCY_KEY, "idempotency_key must be 1-255 visible ASCII characters.")
  .optional()
  .describe("As POST /runs' Idempotency-Key, for this item: the same key with the same item answers the run it made");

/** One item: a body POST /runs takes, plus its own idempotency key. */
export const batchItemSchema = z
  .union(
    [
      promptRunSchema.extend({ idempotency_key: idempotencyKey }),
      planRunSchema.extend({ idempotency_key: idempotencyKey }),
      agentRunSchema.extend({ idempotency_key: idempotencyKey }),
    ],
    { error: 'Give exactly one of "prompt", "plan" or "agent".' },
  )
  .openapi("BatchRun", {}, { unionPreferredType: "oneOf" });

// Items are validated one by one (a bad one does not refuse the others), so the request's own
// validator only checks the envelope. The document says the same: an item is a BatchRun or any
// other value, which is answered in its place. Typing items as BatchRun alone would make a
// validating proxy (Prism) refuse the whole batch with 422 where Crane answers 207; generated
// clients still see BatchRun named as the shape to send.
const batchItemAnswered = z.unknown().openapi({
  anyOf: [
    { $ref: "#/components/schemas/BatchRun" },
    { description: "Anything else is accepted too, and answered in its place in `results` with `validation_failed`" },
  ],
});
const batchBodySchema = z
  .strictObject({
    runs: z.array(batchItemAnswered).min(1).max(MAX_BATCH_RUNS, `A batch has at most ${MAX_BATCH_RUNS} runs.`),
  })
  .openapi("CreateRunBatch");

const batchResultSchema = z
  .object({
    results: z.array(z.union([runSchema, errorBodySchema])).describe("One per item, in the items' order: the run it created (or replayed), or why not"),
  })
  .openapi("RunBatchResults");

const createBatch = createRoute({
  method: "post",
  operationId: "createRunBatch",
  path: "/runs/batch",
  tags: ["Runs"],
  summary: "Start up to 100 runs",
  description:
    "Each item is planned and started as POST /runs would (an item's `idempotency_key` plays the Idempotency-Key header's part). Answers 207 with one result per item, in order: the run, or `{ error }` in the usual error shape. One bad item does not refuse the others.",
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  // Registers BatchRun, which the body's items refer to.
  request: { body: jsonRequest(batchBodySchema, "The runs, each a POST /runs body with an optional idempotency_key") },
  responses: { 207: jsonResponse(batchResultSchema, "One result per item"), ...errors(400, 413, 415), ...ACCESS.apiKey.responses },
});
runsBatchApi.openAPIRegistry.register("BatchRun", batchItemSchema);

type BatchResult = z.infer<typeof batchResultSchema>["results"][number];

runsBatchApi.openapi(createBatch, async (c) => {
  const { runs } = c.req.valid("json");
  const { tenant, retention_days: retention } = c.var.principal;
  const one = async (raw: unknown): Promise<BatchResult> => {
    const parsed = batchItemSchema.safeParse(raw);
    if (!parsed.success) return errorBody("validation_failed", "This item is invalid.", zodDetails(parsed.error));
    // The same request as POST /runs with the key as a header: a replay either way answers the run.
    const { idempotency_key: key, ...body } = parsed.data;
    try {
      const result = await startRun(c.env, {
        tenant,
        ...(retention ? { retention_days: retention } : {}),
        body,
        source: runSource(body),
        options: body.options ?? {},
        ...(body.webhook ? { webhook: body.webhook } : {}),
        ...(key ? { idempotency_key: key } : {}),
      });
      if (!result.ok) throw startRefusal(result);
      return result.run;
    } catch (err) {
      if (err instanceof ApiError) return errorBody(err.code, err.message, err.details);
      // The items before and after this one stand: their runs exist, so the batch still answers.
      log.error("batch.item_failed", { tenant, ...errorFields(err) });
      return errorBody("internal_error", "Something went wrong on our side with this item; the error was logged.");
    }
  };
  const results: BatchResult[] = new Array(runs.length);
  // Each item counts against the key's rate limit, as the POST /runs it stands for would: the
  // request itself paid for the first; items past the key's budget are answered 429-like in
  // their result (the others stand) and start nothing.
  const { granted, retryAfterS } = await takeUnits(c, `key:${c.var.principal.key_id}`, runs.length - 1, tenant);
  const refused = new Set(granted.flatMap((ok, i) => (ok ? [] : [i + 1])));
  for (const i of refused)
    results[i] = errorBody("rate_limited", `Too many runs for this API key; this item was not started. Try again in ${retryAfterS} s.`, {
      retry_after_s: retryAfterS,
    });
  const todo = runs.flatMap((_, i) => (refused.has(i) ? [] : [i]));
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < todo.length; k = next++) results[todo[k]!] = await one(runs[todo[k]!]);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, todo.length) }, worker));
  return c.json({ results }, 207);
});
