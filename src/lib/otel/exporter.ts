// Sends spans to an OTLP/HTTP collector (OTEL_EXPORTER_OTLP_ENDPOINT, with OTEL_EXPORTER_OTLP_HEADERS
// as `name=value,…` for its credentials), off the caller's path: a flush hands the POST to
// waitUntil. Spans recorded in one invocation (a request, a run object command, a queue batch) go
// in one POST. A collector that fails is logged once, until it answers again, and never fails the
// work that made the spans. With no endpoint there is no exporter at all: callers hold `null` and
// record nothing.
import { waitUntil } from "cloudflare:workers";
import { errorFields, log } from "../log";
import { encodeSpans } from "./otlp-json";
import type { SpanData } from "./span";

/** A batch is sent at once when it reaches this many spans. */
const MAX_BATCH = 512;
/** A collector that does not answer within this long has failed; the POST is abandoned. */
const EXPORT_TIMEOUT_MS = 10_000;

/** Per isolate: whether the last export failed, so a failing collector is logged once. */
let failing = false;

export class OtlpExporter {
  private pending: SpanData[] = [];

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
  ) {}

  record(span: SpanData): void {
    this.pending.push(span);
    if (this.pending.length >= MAX_BATCH) this.flush();
  }

  /** Sends what was recorded, in the background (waitUntil). */
  flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    waitUntil(this.send(batch));
  }

  private async send(batch: SpanData[]): Promise<void> {
    try {
      const res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...this.headers },
        body: encodeSpans(batch),
        signal: AbortSignal.timeout(EXPORT_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`the collector answered ${res.status}`);
      failing = false;
    } catch (err) {
      if (!failing) log.error("otel.export_failed", { url: this.url, spans: batch.length, ...errorFields(err) });
      failing = true;
    }
  }
}

/** `a=1,b=2` (values may be percent-encoded), as OTEL_EXPORTER_OTLP_HEADERS is written. */
function parseHeaders(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at > 0) headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

let cached: { key: string; exporter: OtlpExporter } | undefined;

/**
 * The isolate's exporter, or null when OTEL_EXPORTER_OTLP_ENDPOINT is empty. The endpoint is the
 * collector's base URL (OTLP's convention): spans go to `<endpoint>/v1/traces`.
 */
export function otlpExporter(env: Env): OtlpExporter | null {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!endpoint) return null;
  const key = `${endpoint}\n${env.OTEL_EXPORTER_OTLP_HEADERS ?? ""}`;
  if (cached?.key !== key)
    cached = { key, exporter: new OtlpExporter(`${endpoint.replace(/\/+$/, "")}/v1/traces`, parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS)) };
  return cached.exporter;
}
