import { z } from "zod";
import { stepError } from "../../execution/step-error";
import { CalculationError, MAX_EXPRESSION_LENGTH, evaluateExpression } from "./parser";
import { inlineTool, fail, ok } from "../tool";

// Messages in the parser's words, so an empty or long expression reads the same whether the input
// check or the parser catches it.
export const calculatorInputSchema = z.strictObject({
  expression: z
    .string()
    .min(1, "The expression is empty.")
    .max(MAX_EXPRESSION_LENGTH, `The expression is longer than ${MAX_EXPRESSION_LENGTH} characters.`)
    .describe("Arithmetic with + - * / % **, unary minus, parentheses and decimals, e.g. (41*7)+13"),
});

export const calculator = inlineTool({
  name: "Calculator.evaluate",
  description: "Evaluates an arithmetic expression and returns the result as a number.",
  input_schema: calculatorInputSchema,
  run({ expression }) {
    try {
      return ok(evaluateExpression(expression));
    } catch (err) {
      if (err instanceof CalculationError) return fail(stepError(err.code, err.message));
      throw err;
    }
  },
});
