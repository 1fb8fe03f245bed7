// The run object's look at the step queue before a resend (effects/step-sender.ts): the binding's
// own metrics, asked of the real local queue.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { stepQueueOldest } from "../../src/durable/run/effects/step-sender";

describe("the step queue's oldest waiting message", () => {
  it("is null when nothing waits (the held queue keeps nothing): known, not unknown, so a resend goes out at once", async () => {
    // undefined would mean the queue could not tell (a runtime without queue metrics).
    expect(await stepQueueOldest(env.STEPS, "run_queue_view")).toBeNull();
  });
});
