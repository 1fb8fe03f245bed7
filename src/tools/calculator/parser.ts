/**
 * A bounded arithmetic evaluator: + - * / % **, unary minus, parentheses, decimals.
 * Recursive descent over a token list; no eval, no Function. Bounds keep hostile input cheap:
 * length and nesting depth are checked before any work, and every intermediate must be finite.
 */
export const MAX_EXPRESSION_LENGTH = 500;
export const MAX_NESTING_DEPTH = 64;

export type CalculationErrorCode =
  "division_by_zero" | "empty_expression" | "expression_too_long" | "invalid_character" | "result_not_finite" | "syntax_error" | "too_deep";

export class CalculationError extends Error {
  override name = "CalculationError";
  constructor(
    readonly code: CalculationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Token = { kind: "num"; value: number; pos: number } | { kind: "op"; value: string; pos: number };

const OPERATORS = ["**", "+", "-", "*", "/", "%", "(", ")"];

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const num = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      tokens.push({ kind: "num", value: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op) {
      tokens.push({ kind: "op", value: op, pos: i });
      i += op.length;
      continue;
    }
    const hint = ch === "^" ? " (use ** for powers)" : ch === "x" || ch === "×" ? " (use * to multiply)" : "";
    throw new CalculationError("invalid_character", `Unexpected character "${ch}" at position ${i + 1}${hint}.`);
  }
  return tokens;
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): number {
    if (this.tokens.length === 0) throw new CalculationError("empty_expression", "The expression is empty.");
    const value = this.additive();
    const extra = this.tokens[this.i];
    if (extra) {
      throw new CalculationError("syntax_error", `Unexpected "${extra.kind === "num" ? extra.value : extra.value}" at position ${extra.pos + 1}.`);
    }
    return value;
  }

  private peekOp(...ops: string[]): string | undefined {
    const t = this.tokens[this.i];
    return t?.kind === "op" && ops.includes(t.value) ? t.value : undefined;
  }

  private enter(): void {
    if (++this.depth > MAX_NESTING_DEPTH) {
      throw new CalculationError("too_deep", `The expression nests deeper than ${MAX_NESTING_DEPTH} levels.`);
    }
  }

  private additive(): number {
    let left = this.multiplicative();
    for (let op = this.peekOp("+", "-"); op; op = this.peekOp("+", "-")) {
      this.i++;
      const right = this.multiplicative();
      left = finite(op === "+" ? left + right : left - right);
    }
    return left;
  }

  private multiplicative(): number {
    let left = this.unary();
    for (let op = this.peekOp("*", "/", "%"); op; op = this.peekOp("*", "/", "%")) {
      this.i++;
      const right = this.unary();
      if ((op === "/" || op === "%") && right === 0) {
        throw new CalculationError("division_by_zero", op === "/" ? "Division by zero." : "Modulo by zero.");
      }
      left = finite(op === "*" ? left * right : op === "/" ? left / right : left % right);
    }
    return left;
  }

  // Unary minus binds looser than **, as in mathematics and Python: -2**2 is -4.
  private unary(): number {
    const op = this.peekOp("-", "+");
    if (!op) return this.power();
    this.i++;
    this.enter();
    const value = this.unary();
    this.depth--;
    return op === "-" ? -value : value;
  }

  // ** is right-associative: 2**3**2 is 2**9.
  private power(): number {
    const base = this.primary();
    if (!this.peekOp("**")) return base;
    this.i++;
    this.enter();
    const exponent = this.unary();
    this.depth--;
    return finite(base ** exponent);
  }

  private primary(): number {
    const t = this.tokens[this.i];
    if (!t) throw new CalculationError("syntax_error", "The expression ends too early.");
    if (t.kind === "num") {
      this.i++;
      return t.value;
    }
    if (t.value === "(") {
      this.i++;
      this.enter();
      const value = this.additive();
      this.depth--;
      if (!this.peekOp(")")) throw new CalculationError("syntax_error", `Missing ")" for the "(" at position ${t.pos + 1}.`);
      this.i++;
      return value;
    }
    throw new CalculationError("syntax_error", `Unexpected "${t.value}" at position ${t.pos + 1}.`);
  }
}

function finite(value: number): number {
  if (!Number.isFinite(value)) {
    throw new CalculationError("result_not_finite", "The result is too large to represent (not a finite number).");
  }
  if (Number.isNaN(value)) throw new CalculationError("result_not_finite", "The result is not a number.");
  return value;
}

/** Evaluates `expression`, rounding float noise away (0.1 + 0.2 → 0.3); whole numbers stay exact. */
export function evaluateExpression(expression: string): number {
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw new CalculationError("expression_too_long", `The expression is longer than ${MAX_EXPRESSION_LENGTH} characters.`);
  }
  const value = finite(new Parser(tokenize(expression)).parse());
  const rounded = Number.isInteger(value) ? value : Number(value.toPrecision(15));
  return Object.is(rounded, -0) ? 0 : rounded;
}
