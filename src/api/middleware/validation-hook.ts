import type { Hook } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { ApiError, zodDetails } from "../errors";

/**
 * What the routes' zod validators do with input that fails its schema: a 400 in the one error
 * shape. Bodies answer `validation_failed`, queries `invalid_query`; a header answers
 * `invalid_<header>` (invalid_idempotency_key, invalid_last_event_id) with its schema's message.
 */
export const validationHook: Hook<unknown, AppEnv, string, void> = (result) => {
  if (result.success) return;
  const details = zodDetails(result.error);
  switch (result.target) {
    case "json":
      throw new ApiError(400, "validation_failed", "The request body is invalid.", details);
    case "query":
      throw new ApiError(400, "invalid_query", "The query parameters are invalid.", details);
    case "header": {
      const first = details[0];
      throw new ApiError(400, `invalid_${String(first?.path[0] ?? "header").replaceAll("-", "_")}`, first?.message ?? "A header is invalid.", details);
    }
    default:
      throw new ApiError(400, `invalid_${result.target}`, `The request's ${result.target} is invalid.`, details);
  }
};
