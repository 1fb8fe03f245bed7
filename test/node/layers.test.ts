// Imports run down the layers: the HTTP API (src/api) uses the key store (src/auth) and the
// domain, never the console page; the key store and the console page know nothing of the API.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
const importsOf = (file: string) => [...readFileSync(file, "utf8").matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);

describe("layers", () => {
  for (const [layer, forbidden] of [
    ["src/auth", /\/api\//],
    ["src/api", /\/console\//],
    ["src/console", /\/api\//],
  ] as const) {
    it(`${layer} imports nothing from ${forbidden.source.replaceAll("\\", "")}`, () => {
      const offending = files(layer).flatMap((f) =>
        importsOf(f)
          .filter((i) => i.startsWith(".") && forbidden.test(`${i}/`))
          .map((i) => `${f}: ${i}`),
      );
      expect(offending).toEqual([]);
    });
  }
});
