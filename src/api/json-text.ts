// A JSON answer whose text was encoded elsewhere (the run object encodes its resource once per
// change). The route's schema documents what the text holds; typed as `never` data, the answer
// satisfies the route's typed response without claiming a shape of its own, so the one cast lives here.
import type { Context, TypedResponse } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export function jsonText<S extends ContentfulStatusCode>(c: Context, text: string, status: S): TypedResponse<never, S, "json"> {
  return c.body(text, status, { "content-type": "application/json" }) as unknown as TypedResponse<never, S, "json">;
}
