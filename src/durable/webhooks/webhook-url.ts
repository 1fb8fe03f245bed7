// Where a webhook may point. The same address rules as Http.get: private, loopback, link-local
// and metadata addresses are refused unless HTTP_TOOL_ALLOWLIST lists that exact host:port (as
// the local receiver is in development); public hosts need no listing, since the tenant chose to
// be called there. Checked when a URL is given (a 400) and again before every attempt, so a
// narrowed allowlist stops deliveries already queued. Redirects are never followed (send-attempt.ts).
import { z } from "zod";
import { effectivePort, isAllowed, parseAllowlist } from "../../tools/http-get/allowlist";
import { nonPublicAddress } from "../../tools/http-get/private-address";

export const WEBHOOK_URL_MAX = 2048;

export const webhookUrlSchema = z
  .string()
  .max(WEBHOOK_URL_MAX)
  .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: "Give an absolute http:// or https:// URL." })
  .refine((u) => !URL.canParse(u) || (new URL(u).username === "" && new URL(u).password === ""), {
    message: "Put no credentials in the URL: verify the webhook-signature header instead.",
  });

/** Why `url` may not be called, in words a person can act on; undefined when it may. */
export function webhookUrlRefusal(url: string, allowlist: string | undefined): string | undefined {
  const target = new URL(url);
  const nonPublic = nonPublicAddress(target.hostname);
  if (!nonPublic || isAllowed(target, parseAllowlist(allowlist))) return undefined;
  const article = /^[aeiou]/i.test(nonPublic) ? "an" : "a";
  return `${target.hostname}:${effectivePort(target)} is ${article} ${nonPublic} address; webhooks only reach it when HTTP_TOOL_ALLOWLIST lists it.`;
}
