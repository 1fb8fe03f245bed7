import { Hono } from "hono";
import { jsonBody } from "../api/validate";
import { layoutPlan } from "./layout";
import { layoutRequestSchema } from "./layout-schema";
import page from "./console.html";

/** The web console at `/`: one page, its DAG laid out by POST /console/layout. */
export const consoleApp = new Hono<{ Bindings: Env }>();

consoleApp.get("/", (c) =>
  c.html(page, 200, {
    // The page's own script and style only; no framing (clickjacking).
    "content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; frame-ancestors 'none'",
    "x-frame-options": "DENY",
  }),
);

consoleApp.post("/console/layout", async (c) => {
  const { steps } = await jsonBody(c, layoutRequestSchema);
  return c.json(layoutPlan(steps));
});
