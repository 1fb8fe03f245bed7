// The run's domain (src/durable/run/domain/) decides from the state and does no I/O, so nothing it
// loads may load an I/O library: not directly (lint says so per file) and not through a module it
// imports (which lint cannot see). This walks the static import graph from every domain file,
// following relative imports into src/ and naming packages without entering them, and fails with
// the chain that reaches a forbidden package. Type-only imports are not edges: they are erased
// (`verbatimModuleSyntax` drops only `import type`/`export type`, so that is what is skipped).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const DOMAIN = join(ROOT, "src/durable/run/domain");

/** Packages that do I/O or belong to a host: a match is the package itself or any subpath of it. */
const FORBIDDEN = ["drizzle-orm", "@modelcontextprotocol/sdk", "ai", "@ai-sdk/*", "hono", "cloudflare:workers"];
const forbidden = (specifier: string) =>
  FORBIDDEN.some((f) => (f.endsWith("/*") ? specifier.startsWith(f.slice(0, -1)) : specifier === f || specifier.startsWith(`${f}/`)));

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));

/** The module specifiers a file loads at run time: imports and re-exports that are not type-only, and dynamic imports. */
export function runtimeImports(source: string): string[] {
  const file = ts.createSourceFile("x.ts", source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier))
      found.push(node.moduleSpecifier.text);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0]))
      found.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** A relative specifier's file, as the bundler resolves it (`x` → `x.ts`, or `x/index.ts`). */
function resolveRelative(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts"), base.replace(/\.js$/, ".ts")]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  throw new Error(`${relative(ROOT, from)} imports ${specifier}, which does not resolve to a file`);
}

/** Every package reached from `entries`, with the chain of files that reaches it first. */
export function reachedPackages(entries: string[]): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  const seen = new Set<string>(entries);
  const queue = entries.map((file) => ({ file, chain: [relative(ROOT, file)] }));
  while (queue.length > 0) {
    const { file, chain } = queue.shift()!;
    for (const specifier of runtimeImports(readFileSync(file, "utf8"))) {
      if (!specifier.startsWith(".")) {
        if (!packages.has(specifier)) packages.set(specifier, chain);
        continue;
      }
      // Assets imported by path (the console's HTML) are not modules with imports of their own.
      if (!/\.(ts|js)$/.test(specifier) && /\.[a-z]+$/.test(specifier)) continue;
      const next = resolveRelative(file, specifier);
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push({ file: next, chain: [...chain, relative(ROOT, next)] });
    }
  }
  return packages;
}

describe("the run's domain", () => {
  it("reaches no I/O package through any chain of imports", () => {
    const offending = [...reachedPackages(files(DOMAIN))].filter(([pkg]) => forbidden(pkg)).map(([pkg, chain]) => `${chain.join(" → ")} → ${pkg}`);
    expect(offending).toEqual([]);
  });

  // The walk itself: were it to miss an edge, the test above would pass whatever the domain imports.
  it("follows imports, re-exports and dynamic imports, and skips only type-only ones", () => {
    const source = [
      'import { a } from "./a";',
      'import type { B } from "./b";',
      'import { type C, d } from "./c";',
      'import "./side-effect";',
      'export { e } from "./e";',
      'export type { F } from "./f";',
      'export * from "./g";',
      'const h = await import("./h");',
      'import {\n  i,\n  j,\n} from "drizzle-orm";',
    ].join("\n");
    expect(runtimeImports(source)).toEqual(["./a", "./c", "./side-effect", "./e", "./g", "./h", "drizzle-orm"]);
  });

  it("would name a package the domain reached through another module", () => {
    // The queue consumer runs the tools, so it reaches their I/O: the walk must say so.
    const reached = reachedPackages([join(ROOT, "src/queues/execute-step.ts")]);
    expect([...reached.keys()].filter(forbidden)).toEqual(expect.arrayContaining(["drizzle-orm", "@modelcontextprotocol/sdk/client/index.js"]));
  });
});
