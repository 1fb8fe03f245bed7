// What a run sends to the crane-webhooks queue when it reaches a milestone someone may be called
// about, what the queue's consumer sends itself to try a delivery again, and what a delivery's
// body says. The run object builds notices, the consumer (src/queues/webhook-consumer.ts) turns
// them into signed deliveries; both import this module, neither the other.
import { z } from "zod";
import { RUN_STATUSES, type RunStatus } from "../../execution/statuses";

/** Events a subscription may ask for. A run's own `webhook` is called for the three ends only. */
export const WEBHOOK_EVENT_TYPES = ["run.completed", "run.failed", "run.cancelled", "run.waiting"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const RUN_END_EVENTS: ReadonlySet<WebhookEventType> = new Set(["run.completed", "run.failed", "run.cancelled"]);

/**
 * The run as a delivery carries it: the fields of a run list entry (GET /runs), so a body stays
 * small whatever the run's steps produced. The whole run is one GET /runs/{run_id} away.
 */
export interface WebhookRun {
  run_id: string;
  prompt: string | null;
  status: RunStatus;
  planner: string;
  step_count: number;
  result: unknown;
  /** True when `result` was left out because it is over RESULT_LIMIT_BYTES. */
  result_truncated?: boolean;
  error: { code: string; message: string; step_number?: number } | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

/** A result bigger than this is left out of a delivery (a row of the outbox holds at most 2 MB). */
export const RESULT_LIMIT_BYTES = 64 * 1024;

export interface RunNotice {
  /** Whose subscriptions and secrets apply (the consumer serves every tenant). */
  tenant: string;
  run_id: string;
  /** The seq of the command's last event: with the run id it names the milestone, so a repeated handoff is one delivery. */
  seq: number;
  type: WebhookEventType;
  /** When the milestone happened (ISO 8601): the body's `timestamp`. */
  at: string;
  run: WebhookRun;
  /** The run's own webhook (POST /runs `webhook.url`), called for its ends. */
  url?: string;
}

/** A delivery's JSON body, as the Standard Webhooks specification shapes it. */
export interface WebhookBody {
  type: WebhookEventType;
  timestamp: string;
  data: { run: WebhookRun };
}

const webhookRunSchema = z.object({
  run_id: z.string(),
  prompt: z.string().nullable(),
  status: z.enum(RUN_STATUSES),
  planner: z.string(),
  step_count: z.number().int(),
  result: z.unknown(),
  result_truncated: z.boolean().optional(),
  error: z.object({ code: z.string(), message: z.string(), step_number: z.number().int().optional() }).nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
});

/** A run's milestone, as the run object sends it (one message, whatever the number of targets). */
export const noticeMessageSchema = z.object({
  kind: z.literal("notice"),
  tenant: z.string().min(1),
  run_id: z.string().min(1),
  seq: z.number().int(),
  type: z.enum(WEBHOOK_EVENT_TYPES),
  at: z.string(),
  run: webhookRunSchema,
  url: z.string().optional(),
});

/**
 * The next attempt of one delivery, sent by the consumer with the delivery policy's wait as the
 * message's delay. It names the delivery only: its body, target and secret are read from the
 * tenant's WebhookOutbox when it is due, so a body is stored once and a rotated secret applies.
 */
export const retryMessageSchema = z.object({
  kind: z.literal("retry"),
  tenant: z.string().min(1),
  delivery_id: z.string().min(1),
  /** The attempt this message makes (2 for the first retry); a message for an attempt already made is a duplicate. */
  attempt: z.number().int().min(1),
});

export const webhookMessageSchema = z.discriminatedUnion("kind", [noticeMessageSchema, retryMessageSchema]);
export type NoticeMessage = z.infer<typeof noticeMessageSchema>;
export type RetryMessage = z.infer<typeof retryMessageSchema>;
export type WebhookMessage = z.infer<typeof webhookMessageSchema>;

/** What the run object sends for a notice. */
export const noticeMessage = (notice: RunNotice): NoticeMessage => ({ kind: "notice", ...notice });
