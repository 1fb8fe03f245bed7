import { z } from "@hono/zod-openapi";

/** The one error shape of the API: { error: { code, message, details? } }. */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z
        .string()
        .regex(/^[a-z][a-z0-9_]*$/)
        .describe("What went wrong, for programs: snake_case, stable"),
      message: z.string().min(1).describe("What went wrong, for people"),
      details: z.unknown().optional().describe("More about it, shaped by the code (the invalid fields, the limit that was hit, …)"),
    }),
  })
  .openapi("Error");
export type ErrorBody = z.infer<typeof errorBodySchema>;

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}
