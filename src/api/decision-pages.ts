// The pages a decision link opens (POST /api/v1/runs/{id}/steps/{step}/decision-link makes the
// links): public, since the token in the path is the credential. GET shows what the link would
// decide and changes nothing (mail scanners and link previews follow URLs); the page's form POSTs
// back to the same URL, which records the decision with `decided_by: "link"`.
import { createRoute, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError } from "./errors";
import { ACCESS, createApi, errors } from "./openapi";
import { RUN_ID } from "./schemas";
import { runClient } from "../durable/run/run-client";
import type { LinkDecision, LinkInfo } from "../durable/run/storage/decision-links";

export const decisionPageApi = createApi();

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111827}main{max-width:34rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}h1{font-size:1.3rem;margin:0 0 .75rem}.message{white-space:pre-wrap;font-size:1.1rem;padding:.75rem;border-left:4px solid #6366f1;background:#eef2ff}.meta{color:#6b7280;font-size:.9rem}textarea{width:100%;box-sizing:border-box;min-height:4rem;font:inherit}button{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:6px;color:#fff;cursor:pointer;margin-top:.75rem}.approve{background:#15803d}.reject{background:#b91c1c}code{font-size:.85em}`;

let styleHash: Promise<string> | undefined;
const hashOf = async (text: string) =>
  `'sha256-${btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))))}'`;

/** As the console: nothing runs on these pages, only their own stylesheet (by hash); forms post to this origin only. */
const pageHeaders = async (c: Parameters<ReturnType<typeof secureHeaders>>[0], next: () => Promise<void>) =>
  secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      styleSrc: [await (styleHash ??= hashOf(STYLE))],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: "DENY",
    // The URL is the credential: it must not leave in a Referer.
    referrerPolicy: "no-referrer",
    crossOriginOpenerPolicy: "same-origin",
  })(c, async () => {
    await next();
    c.header("cache-control", "no-store");
    c.header("x-robots-tag", "noindex");
  });

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const VERB: Record<LinkDecision, { ask: string; done: string; button: string }> = {
  approve: { ask: "Approve?", done: "Approved", button: "Approve" },
  reject: { ask: "Reject?", done: "Rejected", button: "Reject" },
};

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} · Crane</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

function confirmPage(link: LinkInfo): string {
  const verb = VERB[link.decision];
  return page(
    verb.ask,
    `<h1>${verb.ask}</h1><p class="message">${escapeHtml(link.message)}</p>` +
      `<p class="meta">Step ${link.step} of run <code>${escapeHtml(link.run_id)}</code>. This link works once, until ${escapeHtml(link.expires_at)}.</p>` +
      `<form method="post"><label>Comment (optional)<textarea name="comment" maxlength="2000"></textarea></label>` +
      `<button type="submit" class="${link.decision}">${verb.button}</button></form>`,
  );
}

const refusalPage = (title: string, message: string) => page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
const TITLES: Record<string, string> = { link_not_found: "Link not valid", link_used: "Already decided", step_decided: "Already decided" };

const paramsSchema = z.object({
  run_id: z.string().openapi({ description: "The run's id", example: "run_0123456789abcdef0123456789abcdef" }),
  token: z.string().openapi({ description: "The link's token: the credential", example: `dl_${"0".repeat(48)}` }),
});
const html = (description: string) => ({ description, content: { "text/html": { schema: z.string() } } });
const refusals = {
  404: html("The link is unknown or has expired (the step's timeout passed, or the step waits again after a resume)"),
  409: html("The link (or the other link of its pair) was used already, or the step was decided some other way or the run ended"),
};

const showLink = createRoute({
  method: "get",
  operationId: "showDecisionPage",
  path: "/decide/{run_id}/{token}",
  tags: ["Decision links"],
  summary: "The confirmation page a decision link opens; changes nothing",
  description: "No API key: the token in the path is the credential. The page's button POSTs to the same URL.",
  middleware: pageHeaders,
  security: ACCESS.public.security,
  request: { params: paramsSchema },
  responses: { 200: html("What the link decides, the approval's message, and a button"), ...refusals, ...ACCESS.public.responses },
});

const decide = createRoute({
  method: "post",
  operationId: "submitDecisionPage",
  path: "/decide/{run_id}/{token}",
  tags: ["Decision links"],
  summary: "Records the link's decision (once), from its confirmation page",
  description: 'No API key: the token in the path is the credential. The step\'s output says `decided_by: "link"`.',
  middleware: [
    pageHeaders,
    bodyLimit({
      maxSize: 8 * 1024,
      onError: () => {
        throw new ApiError(413, "payload_too_large", "The form is over 8 KiB.");
      },
    }),
  ] as const,
  security: ACCESS.public.security,
  request: {
    params: paramsSchema,
    body: {
      required: false,
      content: { "application/x-www-form-urlencoded": { schema: z.object({ comment: z.string().max(2000).optional() }) } },
    },
  },
  responses: { 200: html("The decision, recorded"), ...refusals, ...errors(400, 413), ...ACCESS.public.responses },
});

/** A run id that cannot be ours is an unknown link like any other: no object is addressed. */
const UNKNOWN = { ok: false, code: "link_not_found", message: "This link is unknown or has expired." } as const;
const refusalStatus = (code: string): ContentfulStatusCode => (code === "link_not_found" ? 404 : 409);

decisionPageApi.openapi(showLink, async (c) => {
  const { run_id: runId, token } = c.req.valid("param");
  const found = RUN_ID.test(runId) ? await runClient(c.env, runId).lookupDecisionLink(token) : UNKNOWN;
  if (found.ok) return c.html(confirmPage(found.link), 200);
  return c.html(refusalPage(TITLES[found.code]!, found.message), refusalStatus(found.code));
});

decisionPageApi.openapi(decide, async (c) => {
  const { run_id: runId, token } = c.req.valid("param");
  const comment = (c.req.valid("form") as { comment?: string } | undefined)?.comment?.trim() || null;
  const answer = RUN_ID.test(runId) ? await runClient(c.env, runId).decideByLink(token, comment) : UNKNOWN;
  if (answer.ok) {
    const decision: LinkDecision = answer.step.status === "succeeded" ? "approve" : "reject";
    const outcome = decision === "approve" ? "the run goes on." : "the run fails.";
    return c.html(page(VERB[decision].done, `<h1>${VERB[decision].done}</h1><p>Step ${answer.step.step_number} is decided: ${outcome}</p>`), 200);
  }
  return c.html(refusalPage(TITLES[answer.code] ?? "Already decided", answer.message), refusalStatus(answer.code));
});
