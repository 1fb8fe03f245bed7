import { Hono, type MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import page from "./console.html";

/**
 * The web console at `/`: one page, public (it holds no data; it asks for an API key and calls
 * the API with it). Its DAG is laid out by POST /console/layout (src/api/console-layout.ts).
 */
export const consoleApp = new Hono<{ Bindings: Env }>();

const base64 = (bytes: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

/** `'sha256-…'` of each inline `<tag>` block of the page. */
async function inlineHashes(tag: string): Promise<string[]> {
  const blocks = [...page.matchAll(new RegExp(`<${tag}(?: [^>]*)?>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1] ?? "");
  return Promise.all(blocks.map(async (b) => `'sha256-${base64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(b)))}'`));
}

/**
 * The page's Content-Security-Policy allows exactly its own inline script and stylesheet, by
 * hash, so an injected script or style (should any data ever reach the DOM as markup) does not
 * run; with Hono's secure headers (no framing, nosniff, no referrer, …). The hashes are taken
 * once per isolate, so the middleware is made on first use.
 */
let headers: Promise<MiddlewareHandler> | undefined;
async function pageHeaders(): Promise<MiddlewareHandler> {
  const [scripts, styles] = await Promise.all([inlineHashes("script"), inlineHashes("style")]);
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: scripts,
      styleSrc: styles,
      imgSrc: ["'self'", "data:"],
      // 'self' covers the page's own origin over ws:/wss: too (CSP 3), so the console can reach
      // its own API and sockets and nothing else.
      connectSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: "DENY",
    referrerPolicy: "no-referrer",
    crossOriginOpenerPolicy: "same-origin",
  });
}

consoleApp.get(
  "/",
  async (c, next) => (await (headers ??= pageHeaders()))(c, next),
  (c) => c.html(page, 200, { "cache-control": "no-cache" }),
);

/**
 * The tab icon browsers ask for by themselves: a crane hook, as SVG (Chromium and Firefox take an
 * SVG at this path by its content type). Cached for a day; it never changes between deploys.
 */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f2937"/><path d="M6 7h20M12 7v18M12 25h-4M20 7v9a3 3 0 1 1-3 3" stroke="#fbbf24" stroke-width="2.5" fill="none" stroke-linecap="round"/></svg>`;

consoleApp.get("/favicon.ico", (c) => c.body(FAVICON, 200, { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400" }));
