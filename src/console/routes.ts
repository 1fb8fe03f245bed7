import { Hono } from "hono";
import type { AppEnv } from "../api/app-env";
import { jsonBody } from "../api/validate";
import { requireApiKey } from "../auth/require-api-key";
import { layoutPlan } from "./layout";
import { layoutRequestSchema } from "./layout-schema";
import page from "./console.html";

/** The web console at `/`: one page, its DAG laid out by POST /console/layout. */
export const consoleApp = new Hono<AppEnv>();

const base64 = (bytes: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

/**
 * The page's Content-Security-Policy allows exactly its own inline script and stylesheet, by
 * hash, so an injected script or style (should any data ever reach the DOM as markup) does not
 * run. Hashed once per isolate.
 */
let csp: Promise<string> | undefined;
async function contentSecurityPolicy(): Promise<string> {
  const hashes = async (tag: string) =>
    Promise.all(
      [...page.matchAll(new RegExp(`<${tag}(?: [^>]*)?>([\\s\\S]*?)</${tag}>`, "g"))].map(
        async (m) => `'sha256-${base64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(m[1])))}'`,
      ),
    );
  const [scripts, styles] = await Promise.all([hashes("script"), hashes("style")]);
  return [
    "default-src 'none'",
    `script-src ${scripts.join(" ")}`,
    `style-src ${styles.join(" ")}`,
    "img-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

consoleApp.get("/", async (c) =>
  c.html(page, 200, {
    "content-security-policy": await (csp ??= contentSecurityPolicy()),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-cache",
  }),
);

// The page itself is public (it holds no data); the layout service, like the API, needs a key.
consoleApp.post("/console/layout", requireApiKey, async (c) => {
  const { steps } = await jsonBody(c, layoutRequestSchema);
  return c.json(layoutPlan(steps));
});
