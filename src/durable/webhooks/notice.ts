// What a run hands to its tenant's webhook outbox when it reaches a milestone someone may be
// called about, and what a delivery's body says. The run object builds notices, the outbox
// (webhook-outbox.ts) turns them into signed deliveries; both import this module, neither the other.
import type { RunStatus } from "../../execution/statuses";

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
