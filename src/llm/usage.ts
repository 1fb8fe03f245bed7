import { z } from "zod";

/** Tokens a model call used, as its provider reported them. */
export const usageSchema = z.object({ input_tokens: z.number().int().nonnegative(), output_tokens: z.number().int().nonnegative() });
export type Usage = z.infer<typeof usageSchema>;
