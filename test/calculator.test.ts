import { afterEach, describe, expect, it, vi } from "vitest";
import { calculator, calculatorInputSchema } from "../src/tools/calculator/calculator";
import { CalculationError, MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH, evaluateExpression } from "../src/tools/calculator/parser";

/** Evaluates `expression` and returns the CalculationError it throws; fails the test if it returns a value or throws anything else. */
function calcError(expression: string): CalculationError {
  let value: number | undefined;
  let thrown: unknown;
  try {
    value = evaluateExpression(expression);
  } catch (err) {
    thrown = err;
  }
  if (thrown === undefined) expect.fail(`expected ${JSON.stringify(expression)} to be rejected, but it evaluated to ${value}`);
  expect(thrown).toBeInstanceOf(CalculationError);
  return thrown as CalculationError;
}

describe("evaluateExpression: operators", () => {
  it.each([
    ["2 + 3", 5],
    ["10 - 4", 6],
    ["6 * 7", 42],
    ["10 / 4", 2.5],
    ["17 % 5", 2],
    ["7.5 % 2", 1.5],
    ["2 ** 10", 1024],
    ["3 - 10", -7],
  ])("%s = %d", (expr, expected) => {
    expect(evaluateExpression(expr)).toBe(expected);
  });

  it("ignores whitespace, including none at all", () => {
    expect(evaluateExpression("2+3*4")).toBe(14);
    expect(evaluateExpression("  2 \t+\n3  *  4 ")).toBe(14);
  });
});

describe("evaluateExpression: precedence and associativity", () => {
  it.each([
    ["2 + 3 * 4", 14],
    ["2 * 3 + 4", 10],
    ["20 - 6 / 2", 17],
    ["10 + 7 % 4", 13],
    ["2 * 3 ** 2", 18],
    ["3 ** 2 * 2", 18],
    ["10 - 4 - 3", 3], // left-associative
    ["100 / 10 / 5", 2], // left-associative
    ["2 ** 3 ** 2", 512], // right-associative: 2 ** 9
    ["(2 ** 3) ** 2", 64],
    ["2 ** 2 ** 3", 256],
  ])("%s = %d", (expr, expected) => {
    expect(evaluateExpression(expr)).toBe(expected);
  });

  it("parentheses override precedence", () => {
    expect(evaluateExpression("(2 + 3) * 4")).toBe(20);
    expect(evaluateExpression("2 * (3 + 4)")).toBe(14);
    expect(evaluateExpression("((1 + 2) * (3 + 4))")).toBe(21);
    expect(evaluateExpression("10 - (4 - 3)")).toBe(9);
    expect(evaluateExpression("(((7)))")).toBe(7);
  });

  it("(41*7)+13 is 300", () => {
    expect(evaluateExpression("(41*7)+13")).toBe(300);
  });
});

describe("evaluateExpression: unary minus", () => {
  it("binds looser than ** on its left: -2**2 is -4", () => {
    expect(evaluateExpression("-2**2")).toBe(-4);
    expect(evaluateExpression("-2 ** 2")).toBe(-4);
    expect(evaluateExpression("(-2) ** 2")).toBe(4);
  });

  it("is allowed in an exponent: 2**-1 is 0.5", () => {
    expect(evaluateExpression("2**-1")).toBe(0.5);
    expect(evaluateExpression("2 ** -2")).toBe(0.25);
  });

  it("negates numbers, groups and operands", () => {
    expect(evaluateExpression("-5")).toBe(-5);
    expect(evaluateExpression("-(2 + 3)")).toBe(-5);
    expect(evaluateExpression("2 * -3")).toBe(-6);
    expect(evaluateExpression("3 - -3")).toBe(6);
    expect(evaluateExpression("--3")).toBe(3);
    expect(evaluateExpression("---3")).toBe(-3);
    expect(evaluateExpression("+3")).toBe(3);
    expect(evaluateExpression("-7 % 3")).toBe(-1);
  });

  it("never returns negative zero", () => {
    for (const expr of ["-0", "0 * -1", "-(0)", "-0 / 5"]) {
      const value = evaluateExpression(expr);
      expect(Object.is(value, 0), `${expr} gave ${Object.is(value, -0) ? "-0" : value}`).toBe(true);
    }
  });
});

describe("evaluateExpression: decimals and rounding", () => {
  it("reads decimals, with or without a leading digit", () => {
    expect(evaluateExpression("1.5 * 2")).toBe(3);
    expect(evaluateExpression(".5 + .25")).toBe(0.75);
    expect(evaluateExpression("0.125 * 8")).toBe(1);
    expect(evaluateExpression("3.14159")).toBe(3.14159);
  });

  it("rounds float noise away: 0.1 + 0.2 is 0.3", () => {
    expect(evaluateExpression("0.1 + 0.2")).toBe(0.3);
    expect(evaluateExpression("0.3 - 0.1")).toBe(0.2);
    expect(evaluateExpression("1.1 * 1.1")).toBe(1.21);
  });

  it("keeps non-terminating results close to the true value", () => {
    expect(evaluateExpression("1 / 3")).toBeCloseTo(1 / 3, 12);
    expect(evaluateExpression("2 / 3")).toBeCloseTo(2 / 3, 12);
  });

  it("keeps integers in the safe-integer range exact", () => {
    // An integer JavaScript represents exactly should come back unchanged, not rounded to 15 digits.
    expect(evaluateExpression("2**53 - 1")).toBe(Number.MAX_SAFE_INTEGER);
    expect(evaluateExpression("1234567890123456 + 1")).toBe(1234567890123457);
  });
});

describe("evaluateExpression: invalid input", () => {
  it.each(["", "   ", "\t\n"])("rejects the empty expression %j", (expr) => {
    expect(calcError(expr).code).toBe("empty_expression");
  });

  it.each(["abc", "2 + x", "two + 3", "sqrt(4)", "2 & 3", "1,5"])("rejects letters and unknown symbols: %s", (expr) => {
    const err = calcError(expr);
    expect(err.code).toBe("invalid_character");
    expect(err.message).toMatch(/position \d+/);
  });

  it("says where the bad character is", () => {
    expect(calcError("12 + a").message).toContain("position 6");
  });

  it("hints at ** when given ^", () => {
    const err = calcError("2 ^ 3");
    expect(err.code).toBe("invalid_character");
    expect(err.message).toContain('"^"');
    expect(err.message).toContain("**");
  });

  it("hints at * when given x", () => {
    expect(calcError("2 x 3").message).toContain("use * to multiply");
  });

  it.each([
    ["2 +", /ends too early/],
    ["2 **", /ends too early/],
    ["-", /ends too early/],
    ["(1", /Missing "\)"/],
    ["((1 + 2)", /Missing "\)"/],
    ["1)", /Unexpected "\)"/],
    ["()", /Unexpected "\)"/],
    ["* 2", /Unexpected "\*"/],
    ["1 2", /Unexpected "2"/],
    ["2 + * 3", /Unexpected "\*"/],
    ["1..2", /Unexpected/],
  ])("rejects the malformed %j as a syntax error", (expr, message) => {
    const err = calcError(expr);
    expect(err.code).toBe("syntax_error");
    expect(err.message).toMatch(message);
  });

  it("is a CalculationError with a name and a code", () => {
    const err = calcError("(");
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("CalculationError");
    expect(typeof err.code).toBe("string");
  });
});

describe("evaluateExpression: hostile input and bounds", () => {
  it("returns an error for 9**9**9 quickly instead of computing it", () => {
    const start = performance.now();
    const err = calcError("9**9**9");
    const elapsed = performance.now() - start;
    expect(err.code).toBe("result_not_finite");
    expect(elapsed).toBeLessThan(100);
  });

  it("rejects results and intermediates that overflow", () => {
    expect(calcError("1e308 * 10").code).toBe("result_not_finite");
    expect(calcError("10 ** 400").code).toBe("result_not_finite");
    // The intermediate overflows even though the final step would bring it back down.
    expect(calcError("10 ** 400 / 10 ** 400").code).toBe("result_not_finite");
  });

  it("rejects results that are not a number", () => {
    expect(calcError("(-8) ** 0.5").code).toBe("result_not_finite");
  });

  it("says division by zero for 5/0", () => {
    const err = calcError("5/0");
    expect(err.code).toBe("division_by_zero");
    expect(err.message.toLowerCase()).toContain("division by zero");
    expect(calcError("0/0").code).toBe("division_by_zero");
    expect(calcError("5 / (3 - 3)").code).toBe("division_by_zero");
    expect(calcError("5 / -0").code).toBe("division_by_zero");
  });

  it("rejects modulo by zero", () => {
    const err = calcError("5%0");
    expect(err.code).toBe("division_by_zero");
    expect(err.message.toLowerCase()).toContain("modulo by zero");
  });

  it(`accepts ${MAX_EXPRESSION_LENGTH} characters and rejects one more`, () => {
    expect(MAX_EXPRESSION_LENGTH).toBe(500);
    const atLimit = `${"1+".repeat(249)}11`; // 249 ones plus 11
    expect(atLimit).toHaveLength(500);
    expect(evaluateExpression(atLimit)).toBe(249 + 11);

    const tooLong = `${atLimit}1`;
    expect(tooLong).toHaveLength(501);
    expect(calcError(tooLong).code).toBe("expression_too_long");
    // Whitespace counts: the bound is on the text, before any parsing.
    expect(calcError(`1${" ".repeat(500)}`).code).toBe("expression_too_long");
    // Checked before anything else: even garbage over the limit is "too long".
    expect(calcError("a".repeat(501)).code).toBe("expression_too_long");
  });

  const parens = (n: number) => `${"(".repeat(n)}1${")".repeat(n)}`;

  it(`allows ${MAX_NESTING_DEPTH} levels of parentheses and rejects ${MAX_NESTING_DEPTH + 1}`, () => {
    expect(MAX_NESTING_DEPTH).toBe(64);
    expect(evaluateExpression(parens(64))).toBe(1);
    const err = calcError(parens(65));
    expect(err.code).toBe("too_deep");
    expect(err.message).toContain("64");
    // Depth is nesting, not the number of groups: many shallow groups are fine.
    expect(evaluateExpression(Array.from({ length: 80 }, () => "(1)").join("+"))).toBe(80);
  });

  it("rejects deep nesting that is also unbalanced as too deep, not as a stack overflow", () => {
    expect(calcError("(".repeat(400)).code).toBe("too_deep");
  });

  it(`allows a chain of ${MAX_NESTING_DEPTH} unary minuses and rejects ${MAX_NESTING_DEPTH + 1}`, () => {
    expect(evaluateExpression(`${"-".repeat(64)}1`)).toBe(1);
    expect(evaluateExpression(`${"-".repeat(63)}1`)).toBe(-1);
    expect(calcError(`${"-".repeat(65)}1`).code).toBe("too_deep");
    expect(calcError(`${"-".repeat(499)}1`).code).toBe("too_deep");
  });

  it("counts parentheses and unary minus together towards the depth", () => {
    expect(evaluateExpression(`${"(".repeat(32)}${"-".repeat(32)}1${")".repeat(32)}`)).toBe(1);
    expect(calcError(`${"(".repeat(32)}${"-".repeat(33)}1${")".repeat(32)}`).code).toBe("too_deep");
  });

  it("bounds right-associative ** chains by the same depth", () => {
    expect(evaluateExpression(`1${"**1".repeat(64)}`)).toBe(1);
    expect(calcError(`1${"**1".repeat(65)}`).code).toBe("too_deep");
  });

  it("always returns a finite number that survives JSON", () => {
    for (const expr of ["(41*7)+13", "0.1+0.2", "-2**2", "2**-1", "1/3", "-0", "1e-7 * 3", "999999 * 999999", "2 ** 1000"]) {
      const value = evaluateExpression(expr);
      expect(typeof value).toBe("number");
      expect(Number.isFinite(value), `${expr} → ${value}`).toBe(true);
      expect(JSON.parse(JSON.stringify({ value }))).toEqual({ value });
    }
  });
});

describe("evaluateExpression: no eval", () => {
  afterEach(() => vi.restoreAllMocks());

  it("rejects input that JavaScript would evaluate but arithmetic does not allow", () => {
    for (const expr of [
      "0x10",
      "1_000",
      "'1' + '1'",
      "[] + []",
      "1; 2",
      "2..toString()",
      "this",
      "constructor",
      "globalThis.x = 1",
      "(() => 1)()",
      "`1`",
      "1 == 1",
      "!0",
      "~1",
      "1 << 2",
    ]) {
      expect(() => evaluateExpression(expr), expr).toThrow(CalculationError);
    }
  });

  it("never calls eval", () => {
    const spy = vi.spyOn(globalThis, "eval");
    expect(evaluateExpression("(41*7)+13")).toBe(300);
    expect(() => evaluateExpression("2 +")).toThrow(CalculationError);
    expect(spy).not.toHaveBeenCalled();
  });
});

describe("the calculator tool", () => {
  it("is Calculator.evaluate, run inline by the run object", () => {
    expect(calculator.name).toBe("Calculator.evaluate");
    expect(calculator.executor).toBe("inline");
  });

  it("returns the number as output", async () => {
    expect(calculator.run({ expression: "(41*7)+13" })).toEqual({ success: true, output: 300 });
    expect(calculator.run({ expression: "0.1+0.2" })).toEqual({ success: true, output: 0.3 });
    expect(calculator.run({ expression: "-2**2" })).toEqual({ success: true, output: -4 });
  });

  it.each([
    ["5/0", "5/0", "division_by_zero"],
    ["5%0", "5%0", "division_by_zero"],
    ["9**9**9", "9**9**9", "result_not_finite"],
    ["2 ^ 3", "2 ^ 3", "invalid_character"],
    ["2 +", "2 +", "syntax_error"],
    ["(1", "(1", "syntax_error"],
    ["the empty string", "", "empty_expression"],
    ["65 nested parentheses", `${"(".repeat(65)}1${")".repeat(65)}`, "too_deep"],
    ["600 characters", "1+".repeat(300), "expression_too_long"],
  ])("reports %s as a non-retryable error instead of throwing", async (_label, expression, code) => {
    const result = calculator.run({ expression });
    expect(result.success).toBe(false);
    expect(result.output).toBeUndefined();
    expect(result.error).toMatchObject({ code, retryable: false });
    expect(result.error?.message).toEqual(expect.any(String));
    expect(result.error?.message.length).toBeGreaterThan(0);
  });

  it("passes the parser's message through", async () => {
    const result = calculator.run({ expression: "2 ^ 3" });
    expect(result.error?.message).toBe(calcError("2 ^ 3").message);
  });

  it("says an empty or over-long expression in a sentence, as the parser does", () => {
    const empty = calculatorInputSchema.safeParse({ expression: "" });
    expect(empty.error?.issues.map((i) => i.message)).toEqual(["The expression is empty."]);
    expect(empty.error?.issues[0]?.message).toBe(calcError("").message);
    const long = calculatorInputSchema.safeParse({ expression: "1+".repeat(300) });
    expect(long.error?.issues.map((i) => i.message)).toEqual([`The expression is longer than ${MAX_EXPRESSION_LENGTH} characters.`]);
    expect(long.error?.issues[0]?.message).toBe(calcError("1+".repeat(300)).message);
  });

  it("validates its input: a non-empty string of at most 500 characters, nothing else", () => {
    expect(calculatorInputSchema.safeParse({ expression: "1+1" }).success).toBe(true);
    expect(calculatorInputSchema.safeParse({ expression: "1".repeat(500) }).success).toBe(true);
    expect(calculatorInputSchema.safeParse({ expression: "1".repeat(501) }).success).toBe(false);
    expect(calculatorInputSchema.safeParse({ expression: "" }).success).toBe(false);
    expect(calculatorInputSchema.safeParse({ expression: 5 }).success).toBe(false);
    expect(calculatorInputSchema.safeParse({}).success).toBe(false);
    expect(calculatorInputSchema.safeParse({ expression: "1", extra: true }).success).toBe(false);
    expect(calculator.input_schema).toBe(calculatorInputSchema);
  });
});
