// The one backoff: every "wait longer after each failure" in Crane (a step's retry, a projection
// or webhook handoff that failed, a family notice, a child refused by the tenant's cap) is this
// exponential curve, with full jitter where a burst of failures must not come back as a
// synchronised burst. Randomness comes from the caller (the run's Machine.random), so tests seed it.

export interface BackoffPolicy {
  /** The delay after the first failure (before jitter). */
  initialMs: number;
  /** No delay grows past this. */
  maxMs: number;
  /** Full jitter: a uniformly random delay up to the curve's value. */
  jitter: boolean;
}

/** The delay after the `failures`-th failure in a row (1-based). */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, failures - 1));
  return policy.jitter ? Math.round(random() * cap) : cap;
}

/** A run of failures of one piece of background I/O, and when it is next due. In memory. */
export class Backoff {
  private failures = 0;
  /** When the next try is due (epoch ms); 0: now. */
  retryAt = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Records a failure at `now`; answers the delay before the next try. */
  failed(now: number): number {
    this.failures += 1;
    const delay = backoffDelay(this.policy, this.failures, this.random);
    this.retryAt = now + delay;
    return delay;
  }

  succeeded(): void {
    this.failures = 0;
    this.retryAt = 0;
  }

  get failing(): number {
    return this.failures;
  }
}

/** Background I/O of a run object (projection, webhook handoff, family notices): 0.5 s doubling to a minute. */
export const BACKGROUND_RETRY: BackoffPolicy = { initialMs: 500, maxMs: 60_000, jitter: false };
