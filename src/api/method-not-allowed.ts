// A request whose path is a route but whose method is not answers 405 with `Allow` (RFC 9110
// §15.5.6), not 404: the client has the right address and the wrong verb, and should be told which
// verbs work. The routes are read off the app itself, so the answer cannot drift from the router.
import type { Context, NotFoundHandler } from "hono";
import { errorBody } from "./error-shape";
import { notFound } from "./errors";

interface RouteEntry {
  method: string;
  path: string;
}

/** `/api/v1/runs/:run_id` → a pattern for concrete paths; wildcard (middleware) paths are not routes. */
const patternOf = (path: string) => new RegExp(`^${path.replace(/[.+?^$()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+")}/?$`);

/**
 * The methods that have a route for `path`, in a stable order; HEAD comes with GET, as Hono
 * answers HEAD with the GET handler. Empty when no route has that path.
 */
export function allowedMethods(routes: readonly RouteEntry[], path: string): string[] {
  const methods = new Set<string>();
  for (const r of routes) {
    if (r.method === "ALL" || r.path.includes("*") || !patternOf(r.path).test(path)) continue;
    methods.add(r.method);
    if (r.method === "GET") methods.add("HEAD");
  }
  return [...methods].sort();
}

/** A not-found handler that answers 405 with `Allow` when only the method is wrong. */
export function notFoundOrWrongMethod(routes: () => readonly RouteEntry[]): NotFoundHandler {
  return (c: Context) => {
    const allow = allowedMethods(routes(), c.req.path);
    if (allow.length === 0) return notFound(c);
    return c.json(errorBody("method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}; use ${allow.join(", ")}.`, { allow }), 405, {
      allow: allow.join(", "),
    });
  };
}
