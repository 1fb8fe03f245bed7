// One delivery attempt: the body signed as the Standard Webhooks specification says (the
// `standardwebhooks` library: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`), POSTed with
// a deadline, redirects not followed, the answer's body discarded unread.
import { Webhook } from "standardwebhooks";
import { parseRetryAfter } from "../../lib/retry-after";
import type { AttemptResult } from "./delivery-policy";
import { webhookUrlRefusal } from "./webhook-url";

export const ATTEMPT_TIMEOUT_MS = 10_000;

export interface Signed {
  /** The webhook-id: the same on every attempt of a delivery. */
  id: string;
  url: string;
  /** The whsec_ secret it is signed with. */
  secret: string;
  body: string;
}

/** A new signing secret: `whsec_` and 32 random bytes in base64, the form the library reads. */
export function newSigningSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
}

export async function sendAttempt(d: Signed, now: number, allowlist: string | undefined): Promise<AttemptResult> {
  const refusal = webhookUrlRefusal(d.url, allowlist);
  if (refusal) return { status_code: null, error: refusal, refused: true };
  const timestamp = new Date(now);
  const headers = {
    "content-type": "application/json",
    "user-agent": "Crane-Webhooks/1",
    "webhook-id": d.id,
    "webhook-timestamp": String(Math.floor(now / 1000)),
    "webhook-signature": new Webhook(d.secret).sign(d.id, timestamp, d.body),
  };
  const signal = AbortSignal.timeout(ATTEMPT_TIMEOUT_MS);
  try {
    const res = await fetch(d.url, { method: "POST", headers, body: d.body, redirect: "manual", signal });
    await res.body?.cancel();
    const retryAfter = res.status === 429 ? parseRetryAfter(res.headers.get("retry-after"), now) : undefined;
    return { status_code: res.status, error: null, ...(retryAfter !== undefined ? { retry_after_ms: retryAfter } : {}) };
  } catch (err) {
    return { status_code: null, error: signal.aborted ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s` : `could not connect: ${(err as Error).message}` };
  }
}
