// A server's Retry-After, read the same way wherever Crane calls out (Http.get, a model
// provider, a webhook receiver), so a retry waits what the other side asked.

/** Retry-After as seconds or an HTTP date, in milliseconds; absent or unreadable → undefined. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
