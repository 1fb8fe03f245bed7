import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { CalculationError, evaluateExpression, MAX_EXPRESSION_LENGTH } from "../src/tools/calculator/parser";
import { ADMIN_TOKEN, DEV_KEY } from "./helpers";
import { countOnEveryShard } from "./read-model";

/**
 * Property-based fuzzing of everything a client can send. Whatever arrives, the API answers
 * within a deadline, never with a 5xx, always in the error shape when it refuses, and a refused
 * request changes nothing: no run, no key, no polluted prototype.
 */
const DEADLINE_MS = 10_000;
const FUZZ_TENANT_KEY_NAME = "fuzz";

async function call(req: Request): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS} ms: ${req.method} ${req.url}`)), DEADLINE_MS);
  });
  try {
    return await Promise.race([app.fetch(req, env), hang]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

async function expectSafeAnswer(res: Response, what: string): Promise<number> {
  expect(res.status, what).toBeLessThan(500);
  if (res.status >= 400) {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    expect(typeof body.error?.code, what).toBe("string");
    expect(typeof body.error?.message, what).toBe("string");
  } else {
    await res.body?.cancel();
  }
  return res.status;
}

const count = (sql: string, ...args: string[]) => countOnEveryShard(sql, ...args);
const prototypeKeys = () =>
  [Object.getOwnPropertyNames(Object.prototype), Object.getOwnPropertyNames(Array.prototype), Object.getOwnPropertyNames(Function.prototype)].map((k) =>
    k.sort().join(","),
  );

// Keys a hostile client likes, mixed into generated objects.
const hostileKey = fc.constantFrom(
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "prompt",
  "plan",
  "options",
  "steps",
  "tool",
  "input",
  "step_number",
  "depends_on",
  "retry",
);
const hostileObject = fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 12 })), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 });
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
  hostileObject.map((o) => JSON.stringify(o)),
  // Objects that come close to a valid body, with one thing wrong or odd.
  fc
    .record({ prompt: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.constant(null)), options: fc.option(hostileObject, { nil: undefined }) })
    .map((o) => JSON.stringify(o)),
  fc
    .record({
      plan: fc.record({
        steps: fc.array(
          fc.record({
            step_number: fc.integer({ min: -2, max: 60 }),
            tool: fc.constantFrom("Calculator.evaluate", "TodoStore.list", "Http.get", "Nope", "__proto__"),
            input: hostileObject,
            depends_on: fc.array(fc.integer({ min: -1, max: 60 }), { maxLength: 3 }),
          }),
          { maxLength: 4 },
        ),
      }),
    })
    .map((o) => JSON.stringify(o)),
  // Not JSON at all, or JSON cut short.
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v).slice(0, -1)),
  // Deep nesting, and bodies around the 64 KiB limit.
  fc.integer({ min: 100, max: 5000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  fc.integer({ min: 60_000, max: 70_000 }).map((n) => JSON.stringify({ prompt: "x".repeat(n) })),
  // Valid requests too, so acceptance is exercised and counted.
  fc.constantFrom(
    '{"prompt":"calculate 1 + 1"}',
    '{"prompt":"calculate (41*7)+13"}',
    '{"name":"fuzz","tenant":"fuzz-made"}',
    '{"steps":[{"step_number":1,"tool":"Calculator.evaluate","depends_on":[]}]}',
  ),
);
const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/vnd.api+json",
  "",
);

describe("fuzzing the API", () => {
  it("answers any body on any write route without a 5xx or a hang, and refused writes leave no trace", async () => {
    const keyRes = await app.fetch(
      new Request("http://crane.test/api/v1/admin/keys", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ name: FUZZ_TENANT_KEY_NAME, tenant: `fuzz-${crypto.randomUUID().slice(0, 8)}` }),
      }),
      env,
    );
    const { secret, key } = (await keyRes.json()) as { secret: string; key: { tenant: string } };
    const prototypes = prototypeKeys();
    let accepted = 0;
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/api/v1/runs", "/api/v1/plans", "/console/layout", "/api/v1/admin/keys"),
        body,
        contentType,
        async (path, text, type) => {
          const keysBefore = await count("SELECT count(*) AS n FROM api_keys");
          const runsBefore = await count("SELECT count(*) AS n FROM runs WHERE tenant = ?", key.tenant);
          const headers: Record<string, string> = { authorization: `Bearer ${path.includes("admin") ? ADMIN_TOKEN : secret}` };
          if (type) headers["content-type"] = type;
          const status = await expectSafeAnswer(
            await call(new Request(`http://crane.test${path}`, { method: "POST", headers, body: text })),
            `POST ${path} ${type} ${text.slice(0, 200)}`,
          );
          statuses.add(status);
          if (status >= 400) {
            expect(await count("SELECT count(*) AS n FROM api_keys")).toBe(keysBefore);
            expect(await count("SELECT count(*) AS n FROM runs WHERE tenant = ?", key.tenant)).toBe(runsBefore);
          } else if (path === "/api/v1/runs") accepted += 1;
          expect(prototypeKeys()).toEqual(prototypes);
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      // fast-check prints the seed and the shrunk counterexample of any failure, to replay it.
      // The examples run first, so every kind of answer below is reached whatever the seed.
      {
        numRuns: 300,
        examples: [
          ["/api/v1/plans", '{"prompt":"calculate 1 + 1"}', "application/json"],
          ["/api/v1/runs", '{"prompt":"calculate 1 + 1"}', "application/json"],
          ["/api/v1/runs", '{"prompt":"calculate 1 + 1","__proto__":{"polluted":true}}', "application/json"],
          ["/api/v1/runs", JSON.stringify({ prompt: "x".repeat(70_000) }), "application/json"],
          ["/api/v1/runs", '{"prompt":', "application/json"],
          ["/api/v1/runs", '{"prompt":"calculate 1 + 1"}', "text/plain"],
        ],
      },
    );
    // The generators reach every kind of answer, so the properties above are not vacuous.
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 201, 400, 413, 415]));
    // Every accepted run, and only those, exists for the tenant (its D1 row is written at creation).
    expect(await count("SELECT count(*) AS n FROM runs WHERE tenant = ?", key.tenant)).toBe(accepted);
  });

  it("answers any JSON-RPC body on /mcp without a 5xx or a hang", async () => {
    const keyRes = await app.fetch(
      new Request("http://crane.test/api/v1/admin/keys", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ name: FUZZ_TENANT_KEY_NAME, tenant: `fuzz-mcp-${crypto.randomUUID().slice(0, 8)}` }),
      }),
      env,
    );
    const { secret } = (await keyRes.json()) as { secret: string };
    const tool = fc.constantFrom("crane_run", "crane_get_run", "crane_list_runs", "crane_cancel_run", "crane_plan", "crane_decide", "nope", "__proto__");
    const message = fc.record(
      {
        jsonrpc: fc.constantFrom("2.0", "1.0", 2, null),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.jsonValue({ maxDepth: 2 })),
        method: fc.oneof(
          fc.constantFrom("initialize", "tools/list", "tools/call", "ping", "notifications/initialized", "resources/list", "prompts/get", "__proto__"),
          fc.string({ maxLength: 20 }),
        ),
        params: fc.oneof(
          hostileObject,
          fc.record({ name: tool, arguments: fc.oneof(hostileObject, fc.jsonValue({ maxDepth: 3 })) }, { requiredKeys: [] }),
          fc.record(
            { protocolVersion: fc.constantFrom("2025-06-18", "1999-01-01", ""), capabilities: hostileObject, clientInfo: hostileObject },
            { requiredKeys: [] },
          ),
          fc.jsonValue({ maxDepth: 3 }),
        ),
      },
      { requiredKeys: [] },
    );
    const mcpBody = fc.oneof(
      message.map((m) => JSON.stringify(m)),
      fc.array(message, { maxLength: 4 }).map((m) => JSON.stringify(m)),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.integer({ min: 60_000, max: 70_000 }).map((n) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "x".repeat(n) })),
    );
    const accept = fc.constantFrom("application/json, text/event-stream", "application/json", "text/event-stream", "*/*", "");
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(mcpBody, contentType, accept, async (text, type, acc) => {
        const headers: Record<string, string> = { authorization: `Bearer ${secret}` };
        if (type) headers["content-type"] = type;
        if (acc) headers.accept = acc;
        const res = await call(new Request("http://crane.test/mcp", { method: "POST", headers, body: text }));
        const what = `POST /mcp ${type} ${acc} ${text.slice(0, 200)}`;
        expect(res.status, what).toBeLessThan(500);
        statuses.add(res.status);
        await res.body?.cancel();
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      {
        numRuns: 200,
        examples: [
          ['{"jsonrpc":"2.0","id":1,"method":"tools/list"}', "application/json", "application/json, text/event-stream"],
          [
            '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crane_run","arguments":{"prompt":"calculate 1 + 1"}}}',
            "application/json",
            "application/json, text/event-stream",
          ],
          [
            '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crane_get_run","arguments":{"run_id":"__proto__"}}}',
            "application/json",
            "application/json, text/event-stream",
          ],
          ['{"jsonrpc":"2.0","method":"notifications/initialized"}', "application/json", "application/json, text/event-stream"],
          ['{"jsonrpc":', "application/json", "application/json, text/event-stream"],
        ],
      },
    );
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 202, 400]));
  });

  it("answers any query string and path on the read routes without a 5xx", async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("run_" + "0".repeat(32), "..", "%00", "%2e%2e", "run_" + "g".repeat(32), "__proto__"),
    );
    const queryText = fc.dictionary(
      fc.oneof(fc.constantFrom("status", "limit", "cursor", "after", "created_after", "created_before", "token", "__proto__"), fc.string({ maxLength: 8 })),
      fc.string({ maxLength: 40 }),
      { maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          "/api/v1/runs",
          "/api/v1/runs/{id}",
          "/api/v1/runs/{id}/events",
          "/api/v1/runs/{id}/stream",
          "/api/v1/runs/{id}/usage",
          "/api/v1/admin/keys",
        ),
        segment,
        queryText,
        async (template, id, q) => {
          const url = new URL(`http://crane.test${template.replace("{id}", encodeURIComponent(id))}`);
          for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
          const auth = template.includes("admin") ? ADMIN_TOKEN : DEV_KEY;
          const res = await call(new Request(url, { headers: { authorization: `Bearer ${auth}` } }));
          await expectSafeAnswer(res, url.pathname + url.search);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("fuzzing the calculator", () => {
  const token = fc.constantFrom(
    "1",
    "0",
    "9",
    "41",
    "7",
    ".",
    "0.5",
    "1e308",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "(",
    ")",
    " ",
    "x",
    "e",
    "Infinity",
    "NaN",
    "__proto__",
    ",",
    "9".repeat(20),
  );
  const expression = fc.oneof(
    fc.array(token, { minLength: 1, maxLength: 60 }).map((t) => t.join("")),
    fc.string({ minLength: 1, maxLength: MAX_EXPRESSION_LENGTH + 20 }),
    fc.integer({ min: 1, max: 2000 }).map((n) => "(".repeat(n) + "1" + ")".repeat(n)),
    fc.integer({ min: 1, max: 400 }).map((n) => Array.from({ length: n }, () => "2").join("**")),
  );

  it("either returns a finite number or refuses with a CalculationError, quickly", () => {
    fc.assert(
      fc.property(expression, (text) => {
        const started = Date.now();
        try {
          const value = evaluateExpression(text);
          expect(Number.isFinite(value)).toBe(true);
        } catch (err) {
          expect(err, text).toBeInstanceOf(CalculationError);
          expect((err as CalculationError).code).toMatch(/^[a-z_]+$/);
        }
        expect(Date.now() - started, text).toBeLessThan(1000);
      }),
      { numRuns: 2000 },
    );
  });

  it("plans any calculator prompt into a clear answer, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(expression, async (text) => {
        const res = await call(
          new Request("http://crane.test/api/v1/plans", {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${DEV_KEY}` },
            body: JSON.stringify({ prompt: `calculate ${text}` }),
          }),
        );
        await expectSafeAnswer(res, text);
      }),
      { numRuns: 200 },
    );
  });
});
