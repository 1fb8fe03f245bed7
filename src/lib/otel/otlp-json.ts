// OTLP/HTTP JSON encoding of spans (opentelemetry-proto's JSON mapping: hex ids, times as
// decimal nanosecond strings, enums as numbers), one resource per tenant.
import type { AttributeValue, SpanData } from "./span";

type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

function value(v: AttributeValue): AnyValue {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

const attributes = (attrs: Record<string, AttributeValue | null | undefined>) =>
  Object.entries(attrs).flatMap(([key, v]) => (v === null || v === undefined ? [] : [{ key, value: value(v) }]));

const nanos = (ms: number) => `${Math.round(ms)}000000`;

const STATUS_ERROR = 2;

/** The body of a POST to `/v1/traces`. */
export function encodeSpans(spans: readonly SpanData[]): string {
  const byTenant = new Map<string, SpanData[]>();
  for (const s of spans) byTenant.set(s.tenant, [...(byTenant.get(s.tenant) ?? []), s]);
  return JSON.stringify({
    resourceSpans: [...byTenant].map(([tenant, group]) => ({
      resource: { attributes: attributes({ "service.name": "crane", "crane.tenant": tenant }) },
      scopeSpans: [
        {
          scope: { name: "crane" },
          spans: group.map((s) => ({
            traceId: s.trace_id,
            spanId: s.span_id,
            ...(s.parent_span_id ? { parentSpanId: s.parent_span_id } : {}),
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: nanos(s.start_ms),
            endTimeUnixNano: nanos(Math.max(s.start_ms, s.end_ms)),
            attributes: attributes(s.attributes),
            ...(s.error !== undefined ? { status: { code: STATUS_ERROR, message: s.error } } : {}),
          })),
        },
      ],
    })),
  });
}
