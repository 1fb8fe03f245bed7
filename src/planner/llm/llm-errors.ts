// Why the LLM planner handed over to the rule planner. Misconfiguration (401/403, an unknown
// model) falls back too, but is logged loudly once per isolate and shown in GET /health.
import { APICallError, NoObjectGeneratedError, NoOutputGeneratedError } from "ai";
import { log } from "../../lib/log";

export type FallbackReason = "timeout" | "provider_error" | "invalid_output" | "not_configured";

export interface Classified {
  reason: FallbackReason;
  detail: string;
  misconfigured: boolean;
}

export function classify(err: unknown, signal: AbortSignal): Classified {
  if (signal.aborted) return { reason: "timeout", detail: "the planning budget ran out", misconfigured: false };
  if (APICallError.isInstance(err)) {
    const status = err.statusCode ?? 0;
    if (status === 401 || status === 403) return { reason: "provider_error", detail: `the provider refused the credentials (${status})`, misconfigured: true };
    if (status === 404) return { reason: "provider_error", detail: "the provider does not know this model or endpoint (404)", misconfigured: true };
    if (status === 429) return { reason: "provider_error", detail: "the provider is rate-limiting (429)", misconfigured: false };
    return { reason: "provider_error", detail: `the provider failed${status ? ` (${status})` : ""}: ${err.message}`, misconfigured: false };
  }
  if (NoObjectGeneratedError.isInstance(err) || NoOutputGeneratedError.isInstance(err)) {
    return { reason: "invalid_output", detail: err.message, misconfigured: false };
  }
  const name = err instanceof Error ? err.name : "";
  if (name === "AbortError" || name === "TimeoutError") return { reason: "timeout", detail: "the planning budget ran out", misconfigured: false };
  return { reason: "provider_error", detail: err instanceof Error ? err.message : String(err), misconfigured: false };
}

/** Per-isolate health of the LLM planner, for GET /health. */
let misconfiguration: string | null = null;

export function noteMisconfiguration(detail: string, model: string): void {
  if (misconfiguration === null) log.error("planner.llm_misconfigured", { model, detail, hint: "check LLM_BASE_URL, LLM_MODEL and LLM_API_KEY" });
  misconfiguration = detail;
}

export function noteHealthy(): void {
  misconfiguration = null;
}

export function llmHealth(configured: boolean): string {
  if (!configured) return "not_configured";
  return misconfiguration ? `misconfigured: ${misconfiguration}` : "ok";
}
