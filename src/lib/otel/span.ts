// A finished span, as Crane records it: ids in lowercase hex (W3C trace context), times in epoch
// milliseconds. Spans are recorded when they end, so nothing is kept open across requests.

/** OTLP's span kinds. */
export const SpanKind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

export type AttributeValue = string | number | boolean;

export interface SpanData {
  trace_id: string;
  span_id: string;
  /** Absent for a root span. */
  parent_span_id?: string;
  name: string;
  kind: SpanKind;
  start_ms: number;
  end_ms: number;
  /** The tenant the span acted for: spans are grouped into one OTLP resource per tenant. */
  tenant: string;
  attributes: Record<string, AttributeValue | null | undefined>;
  /** Absent: unset (OTLP's default). An error carries its code as the message. */
  error?: string;
}

/** FNV-1a, 64 bits, as 16 hex digits: a span id derived from a name, never all zeros. */
function fnv64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return (h || 1n).toString(16).padStart(16, "0");
}

/**
 * The span of one life of a run (from its creation or a resume to its end). Derived rather than
 * stored: the run object's commands, which are its children, compute it from the run's state, and
 * so does the span itself when the run ends.
 */
export const runSpanId = (runId: string, lifeStartMs: number) => fnv64(`${runId}:${lifeStartMs}`);
