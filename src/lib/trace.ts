/**
 * W3C trace context: a `traceparent` on POST /runs is honoured (or a trace is started), its trace
 * id travels with the run's queue messages into consumers and out on Http.get's requests, so one
 * id finds every log line of a run.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const hex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");

export const newTraceId = () => hex(16);
export const newSpanId = () => hex(8);

/** The trace and the caller's span of a valid `traceparent` header; undefined for a missing or malformed one. */
export function parseTraceparent(header: string | undefined): { trace_id: string; span_id: string } | undefined {
  const m = TRACEPARENT.exec(header?.trim().toLowerCase() ?? "");
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { trace_id: m[1]!, span_id: m[2]! };
}

/** The trace id of a valid `traceparent` header; undefined for a missing or malformed one. */
export const traceIdFrom = (header: string | undefined) => parseTraceparent(header)?.trace_id;

export const traceparent = (traceId: string, spanId: string) => `00-${traceId}-${spanId}-01`;
