// Http.get: a real outbound GET, bounded in time, size and reach. Run by the queue consumer only;
// the spec (spec.ts) is what the planner and the run's domain import.
import { readCapped } from "../../lib/read-capped";
import { parseRetryAfter } from "../../lib/retry-after";
import { newSpanId, traceparent } from "../../lib/trace";
import { stepError, type StepError } from "../../execution/step-error";
import { fail, ok } from "../tool";
import { implement } from "../tool-impl";
import { effectivePort, isAllowed, parseAllowlist } from "./allowlist";
import { httpClientSpan } from "./http-span";
import { nonPublicAddress } from "./private-address";
import { httpGet } from "./spec";

export const HTTP_MAX_BYTES = 1024 * 1024;
export const HTTP_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 5;

async function readResponse(res: Response): Promise<{ text: string } | { error: StepError }> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > HTTP_MAX_BYTES) {
    await res.body?.cancel();
    return { error: stepError("response_too_large", `The response is ${declared} bytes; the limit is ${HTTP_MAX_BYTES}.`) };
  }
  const bytes = await readCapped(res.body, HTTP_MAX_BYTES);
  if (!bytes) return { error: stepError("response_too_large", `The response is over the ${HTTP_MAX_BYTES}-byte limit.`) };
  return { text: new TextDecoder().decode(bytes) };
}

export const httpGetImpl = implement(httpGet, {
  async execute({ url }, ctx) {
    const rules = parseAllowlist(ctx.env.HTTP_TOOL_ALLOWLIST);
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(HTTP_TIMEOUT_MS)]);
    let target = new URL(url);
    for (let hop = 0; ; hop++) {
      const allowed = isAllowed(target, rules);
      // Private, loopback, link-local and metadata addresses are refused with their own reason
      // unless that exact host:port is listed (as the local upstream is in development).
      const nonPublic = nonPublicAddress(target.hostname);
      if (nonPublic && !allowed) {
        return fail(
          stepError(
            "address_not_allowed",
            `${target.hostname}:${effectivePort(target)} is ${/^[aeiou]/i.test(nonPublic) ? "an" : "a"} ${nonPublic} address; Http.get only reaches it when HTTP_TOOL_ALLOWLIST lists it${hop > 0 ? " (reached by a redirect)" : ""}.`,
          ),
        );
      }
      if (!allowed) {
        return fail(
          stepError(
            "host_not_allowed",
            `${target.hostname}:${effectivePort(target)} is not in HTTP_TOOL_ALLOWLIST${hop > 0 ? " (reached by a redirect)" : ""}; add it there to allow it.`,
          ),
        );
      }
      let res: Response;
      // With spans exported, each request is a span of its own under the attempt's.
      const span = ctx.spans ? newSpanId() : ctx.span_id;
      const sentAt = Date.now();
      try {
        // Redirects are followed by hand so every hop is checked against the allowlist.
        res = await fetch(target, {
          method: "GET",
          redirect: "manual",
          signal,
          headers: { accept: "application/json, text/*;q=0.9", traceparent: traceparent(ctx.trace_id, span) },
        });
        ctx.spans?.record(httpClientSpan(ctx, span, target, sentAt, { status: res.status }));
      } catch (err) {
        ctx.spans?.record(httpClientSpan(ctx, span, target, sentAt, { error: signal.aborted ? "upstream_timeout" : "upstream_unreachable" }));
        if (signal.aborted) return fail(stepError("upstream_timeout", `${target.host} did not answer in time.`));
        return fail(stepError("upstream_unreachable", `Could not connect to ${target.host}: ${(err as Error).message}`));
      }
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        if (hop >= MAX_REDIRECTS) return fail(stepError("too_many_redirects", `More than ${MAX_REDIRECTS} redirects from ${url}.`));
        target = new URL(location, target);
        continue;
      }
      let read: Awaited<ReturnType<typeof readResponse>>;
      try {
        read = await readResponse(res);
      } catch {
        if (signal.aborted) return fail(stepError("upstream_timeout", `${target.host} did not finish its answer in time.`));
        return fail(stepError("upstream_unreachable", `The connection to ${target.host} broke mid-answer.`));
      }
      if ("error" in read) return fail(read.error);
      const contentType = res.headers.get("content-type") ?? "";
      let body: unknown = read.text;
      if (/\bjson\b/i.test(contentType)) {
        try {
          body = JSON.parse(read.text);
        } catch {
          body = read.text;
        }
      }
      if (res.status >= 500 || res.status === 429) {
        const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
        return fail(
          stepError(res.status === 429 ? "upstream_rate_limited" : "upstream_error", `${target.host} answered ${res.status}.`, {
            ...(retryAfter !== undefined ? { retry_after_ms: retryAfter } : {}),
          }),
        );
      }
      if (res.status >= 400) return fail(stepError("upstream_rejected", `${target.host} answered ${res.status}; retrying will not help.`));
      return ok({ status: res.status, content_type: contentType, body });
    }
  },
});
