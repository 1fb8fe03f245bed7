import { createRoute, z } from "@hono/zod-openapi";
import { forgetWebhookConfig } from "../durable/webhooks/config-cache";
import { RUN_END_EVENTS, WEBHOOK_EVENT_TYPES } from "../durable/webhooks/notice";
import { MAX_SUBSCRIPTIONS } from "../durable/webhooks/webhook-outbox";
import { webhookUrlRefusal, webhookUrlSchema } from "../durable/webhooks/webhook-url";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { isoTime } from "./response-schemas";

/**
 * /webhooks: a tenant's subscriptions to its runs' milestones, their deliveries, and the secret
 * that signs runs' own webhooks. Everything lives in the tenant's WebhookOutbox: one request each.
 * A change drops this isolate's copy of the configuration (config-cache.ts); other isolates'
 * copies follow within CONFIG_TTL_MS.
 */
export const webhooksApi = createApi();

const tags = ["Webhooks"];
const { security } = ACCESS.apiKey;

const eventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);

export const createWebhookBodySchema = z
  .strictObject({
    url: webhookUrlSchema.describe(
      "Where to POST each event: an absolute http(s) URL (private and loopback addresses only when HTTP_TOOL_ALLOWLIST lists them)",
    ),
    events: z.array(eventTypeSchema).min(1).max(WEBHOOK_EVENT_TYPES.length).describe("The run events to be called about"),
  })
  .openapi("CreateWebhook");

const webhookSchema = z.object({ webhook_id: z.string(), url: z.string(), events: z.array(eventTypeSchema), created_at: isoTime }).openapi("Webhook");
const createdWebhookSchema = webhookSchema
  .extend({ secret: z.string().describe("The signing secret (`whsec_…`); shown only here. Verify each delivery's webhook-signature with it") })
  .openapi("CreatedWebhook");
const webhookListSchema = z.object({ webhooks: z.array(webhookSchema) }).openapi("WebhookList");

const attemptSchema = z
  .object({
    attempt: z.number().int().describe("1 for the first try"),
    at: isoTime,
    status_code: z.number().int().nullable().describe("The receiver's status; null when it gave none (a timeout, a refused connection)"),
    duration_ms: z.number().int(),
    error: z.string().nullable(),
  })
  .openapi("WebhookAttempt");
const deliverySchema = z
  .object({
    delivery_id: z.string().describe("The webhook-id header: the same on every attempt"),
    type: eventTypeSchema,
    run_id: z.string(),
    status: z.enum(["pending", "delivered", "failed", "cancelled"]),
    reason: z.string().nullable().describe("Why a delivery failed or was cancelled"),
    created_at: isoTime,
    next_attempt_at: isoTime.nullable(),
    attempts: z.array(attemptSchema),
  })
  .openapi("WebhookDelivery");
const deliveryListSchema = z.object({ webhook_id: z.string(), deliveries: z.array(deliverySchema) }).openapi("WebhookDeliveryList");
const signingSecretSchema = z
  .object({ secret: z.string().describe("Signs the webhooks runs carry (POST /runs `webhook`); shown only here"), created_at: isoTime })
  .openapi("WebhookSigningSecret");

const webhookParamsSchema = z.object({
  webhook_id: z
    .string()
    .openapi({ description: "A webhook id (`wh_` and 24 hex digits); any other value is not found", example: "wh_0123456789abcdef01234567" }),
});
const deliveriesQuerySchema = z.strictObject({
  limit: z
    .preprocess((v) => (typeof v === "string" ? Number(v) : v), z.number().int().min(1).max(100))
    .default(50)
    .describe("How many deliveries, newest first"),
});

const outbox = (env: Env, tenant: string) => env.WEBHOOKS.getByName(tenant);
const webhookNotFound = (id: string) => new ApiError(404, "webhook_not_found", `No webhook has id "${id}".`, { webhook_id: id });

const createWebhook = createRoute({
  method: "post",
  operationId: "createWebhook",
  path: "/webhooks",
  tags,
  summary: "Subscribe a URL to run events",
  description: `Each delivery is signed as Standard Webhooks says (webhook-id, webhook-timestamp, webhook-signature) and retried with backoff for about 1.5 h; a 410 answer unsubscribes. At most ${MAX_SUBSCRIPTIONS} per tenant.`,
  middleware: jsonBody,
  security,
  request: { body: jsonRequest(createWebhookBodySchema, "The URL and the events") },
  responses: { 201: jsonResponse(createdWebhookSchema, "The webhook, with its signing secret"), ...errors(400, 409, 413, 415), ...ACCESS.apiKey.responses },
});

webhooksApi.openapi(createWebhook, async (c) => {
  const { url, events } = c.req.valid("json");
  const refusal = webhookUrlRefusal(url, c.env.HTTP_TOOL_ALLOWLIST);
  if (refusal) throw new ApiError(400, "webhook_url_not_allowed", refusal, { url });
  const { tenant } = c.var.principal;
  const result = await outbox(c.env, tenant).subscribe(tenant, url, events);
  forgetWebhookConfig(tenant);
  if (!result.ok) throw new ApiError(409, result.code, `This tenant has ${result.limit} webhooks, its limit; delete one first.`, { limit: result.limit });
  return c.json(result.webhook, 201);
});

const listWebhooks = createRoute({
  method: "get",
  operationId: "listWebhooks",
  path: "/webhooks",
  tags,
  summary: "The tenant's webhooks (without their secrets)",
  security,
  responses: { 200: jsonResponse(webhookListSchema, "Webhooks, oldest first"), ...ACCESS.apiKey.responses },
});

webhooksApi.openapi(listWebhooks, async (c) => c.json({ webhooks: await outbox(c.env, c.var.principal.tenant).list() }, 200));

const deleteWebhook = createRoute({
  method: "delete",
  operationId: "deleteWebhook",
  path: "/webhooks/{webhook_id}",
  tags,
  summary: "Unsubscribe; deliveries still pending are cancelled",
  security,
  request: { params: webhookParamsSchema },
  responses: { 204: { description: "Deleted" }, ...errors(404), ...ACCESS.apiKey.responses },
});

webhooksApi.openapi(deleteWebhook, async (c) => {
  const { webhook_id: id } = c.req.valid("param");
  const { tenant } = c.var.principal;
  if (!(await outbox(c.env, tenant).unsubscribe(tenant, id))) throw webhookNotFound(id);
  forgetWebhookConfig(tenant);
  return c.body(null, 204);
});

const listDeliveries = createRoute({
  method: "get",
  operationId: "listWebhookDeliveries",
  path: "/webhooks/{webhook_id}/deliveries",
  tags,
  summary: "A webhook's deliveries, newest first, each with every attempt",
  security,
  request: { params: webhookParamsSchema, query: deliveriesQuerySchema },
  responses: { 200: jsonResponse(deliveryListSchema, "Deliveries"), ...errors(400, 404), ...ACCESS.apiKey.responses },
});

webhooksApi.openapi(listDeliveries, async (c) => {
  const { webhook_id: id } = c.req.valid("param");
  const { limit } = c.req.valid("query");
  const deliveries = await outbox(c.env, c.var.principal.tenant).deliveries(id, limit);
  if (!deliveries) throw webhookNotFound(id);
  return c.json({ webhook_id: id, deliveries }, 200);
});

const rotateSigningSecret = createRoute({
  method: "post",
  operationId: "rotateRunWebhookSecret",
  path: "/webhooks/signing-secret",
  tags,
  summary: "Create or rotate the secret that signs runs' own webhooks",
  description: `A run may carry \`webhook: { url }\` (POST /runs) to be called at its end (${[...RUN_END_EVENTS].join(", ")}); those deliveries are signed with this secret, which must exist first. A new one replaces the old at once, for deliveries still pending too.`,
  security,
  responses: { 200: jsonResponse(signingSecretSchema, "The new secret"), ...ACCESS.apiKey.responses },
});

webhooksApi.openapi(rotateSigningSecret, async (c) => {
  const { tenant } = c.var.principal;
  const secret = await outbox(c.env, tenant).rotateRunSecret(tenant);
  forgetWebhookConfig(tenant);
  return c.json(secret, 200);
});
