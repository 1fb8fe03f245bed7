/** A span as the test collector decoded it: OTLP's JSON fields, attributes flattened to values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
  status?: { code: number; message?: string };
  resource: Record<string, unknown>;
}
