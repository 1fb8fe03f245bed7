// The client span of one outbound request of Http.get (a redirect is a request of its own), a
// child of the step attempt's span; its id is the one the request's `traceparent` names.
import { SpanKind, type SpanData } from "../../lib/otel/span";
import type { ToolContext } from "../tool-impl";

export function httpClientSpan(ctx: ToolContext, spanId: string, url: URL, startMs: number, outcome: { status: number } | { error: string }): SpanData {
  const status = "status" in outcome ? outcome.status : undefined;
  return {
    trace_id: ctx.trace_id,
    span_id: spanId,
    parent_span_id: ctx.span_id,
    name: "GET",
    kind: SpanKind.client,
    start_ms: startMs,
    end_ms: Date.now(),
    tenant: ctx.tenant,
    attributes: {
      "http.request.method": "GET",
      "url.full": url.href,
      "server.address": url.hostname,
      "http.response.status_code": status,
      "crane.run_id": ctx.run_id,
      "crane.step": ctx.step_number,
    },
    ...("error" in outcome ? { error: outcome.error } : status !== undefined && status >= 500 ? { error: String(status) } : {}),
  };
}
