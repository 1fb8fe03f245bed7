import { describe, expect, it } from "vitest";
import { ceilings, endsQueued, LIMITS, needs, perObject, type WorkloadCounts } from "../../bench/lib/scale.ts";
import { END_MARKER, publishScale, scaleMarkdown, sharedClasses, spliceTable, START_MARKER } from "../../bench/lib/scale-report.ts";
import { spreadFromConfig } from "../../bench/lib/scale-measure.ts";

// The scale model's arithmetic on known counts: a ceiling computed wrong (a wrong divisor, N
// applied to one tenant, a shard count ignored, the queue forgotten) changes one of these numbers.
const counts = (over: Partial<WorkloadCounts> = {}): WorkloadCounts => ({
  workload: "dag",
  unit: "run",
  samples: 10,
  own_requests: 30,
  shared: { tenant_limiter: 2, webhook_outbox: 1, tool_breaker: 16 },
  d1_statements: 2,
  d1_rows_written: 12,
  queue_messages: 8,
  ...over,
});

describe("the scale model", () => {
  it("divides a class's requests per run by the objects a tenant's runs spread over", () => {
    expect(perObject(counts(), { tenant_limiter: 4 })).toEqual({ tenant_limiter: 0.5, webhook_outbox: 1, tool_breaker: 16 });
    // A class with no spread configured, or a nonsense one, is one object per tenant.
    expect(perObject(counts({ shared: { new_class: 3 } }), { new_class: 0 })).toEqual({ new_class: 3 });
  });

  it("bounds one tenant by its hottest shared object, its one D1 shard and the queue", () => {
    // The breaker: 16 requests a run to one object → 1,000 / 16 = 62.5 runs/s.
    const c = ceilings(counts(), {});
    expect(c.hottest).toEqual({ class: "tool_breaker", requests_per_run: 16 });
    expect(c.per_tenant).toEqual({ runs_per_s: 62.5, by: "tool_breaker" });
    // Without the breaker the limiter (2 a run) and D1 (2 statements) tie at 500; the first named wins.
    const noBreaker = ceilings(counts({ shared: { tenant_limiter: 2, webhook_outbox: 1 } }), {});
    expect(noBreaker.per_tenant).toEqual({ runs_per_s: 500, by: "tenant_limiter" });
    // With the limiter split in 4 and the outbox at 1 a run, D1 on the tenant's one shard binds: 1,000 / 2.
    const split = ceilings(counts({ shared: { tenant_limiter: 2, webhook_outbox: 0.5 } }), { tenant_limiter: 4 });
    expect(split.per_tenant).toEqual({ runs_per_s: 500, by: "d1" });
    // And with one statement a run, the queue's 5,000 messages/s over 8 a run: 625.
    const queueBound = ceilings(counts({ shared: { tenant_limiter: 0.1 }, d1_statements: 1 }), {});
    expect(queueBound.per_tenant).toEqual({ runs_per_s: 625, by: "queue" });
  });

  it("raises the total, not one tenant's ceiling, with the shard count", () => {
    const c = ceilings(counts({ queue_messages: 0 }), {}, undefined, [1, 4, 16]);
    expect(c.total[1]).toEqual({ runs_per_s: 500, by: "d1" });
    expect(c.total[4]).toEqual({ runs_per_s: 2000, by: "d1" });
    expect(c.total[16]).toEqual({ runs_per_s: 8000, by: "d1" });
    // One tenant's rows are on one shard: its D1 bound stays 500 whatever N.
    expect(ceilings(counts({ shared: {}, queue_messages: 0 }), {}).per_tenant).toEqual({ runs_per_s: 500, by: "d1" });
    // The one queue caps the total whatever N: 5,000 / 8.
    expect(ceilings(counts(), {}).total[16]).toEqual({ runs_per_s: 625, by: "queue" });
  });

  it("costs a row sent to the read-model queue a full batch's share of a statement, and its own queue's message", () => {
    // An approval: its end is its own statement, its wait one queued row (2 messages: the row and a webhook notice).
    const approval = counts({ shared: {}, d1_statements: 1, read_model_rows: 1, queue_messages: 2 });
    const c = ceilings(approval, {}, undefined, [1, 16]);
    // One tenant: 1 + 1/100 statements a run on its one shard.
    expect(c.per_tenant.by).toBe("d1");
    expect(c.per_tenant.runs_per_s).toBeCloseTo(1000 / 1.01, 6);
    // 16 shards: a batch is up to 16 statements, 1 + 16/100 a run → 13,793; the step queue (1 message) binds first at 5,000.
    expect(c.total[1]!.runs_per_s).toBeCloseTo(1000 / 1.01, 6);
    expect(c.total[16]).toEqual({ runs_per_s: 5000, by: "queue" });
    // The read-model queue binds on its own: 3 rows a run, 5,000 / 3.
    expect(ceilings(counts({ shared: {}, d1_statements: 1, read_model_rows: 3, queue_messages: 3 }), {}, undefined, [16]).total[16]).toEqual({
      runs_per_s: 5000 / 3,
      by: "read-model queue",
    });
    // 5,000 runs/s: the batches put 50 statements a second on each shard, so 5,000 own statements need ⌈5,000 / 950⌉ = 6 shards.
    expect(needs(approval, {}, 5000)).toMatchObject({ shards: 6, queues: { step: 1, webhook: 1, "read-model": 1 } });
    // Counted as before, it would need 10: a statement for the wait and one for the end.
    expect(needs(counts({ shared: {}, d1_statements: 2, queue_messages: 1 }), {}, 5000).shards).toBe(10);
  });

  it("with ends queued, turns a run's own statement into a queued row, and spreads rows over READ_MODEL_QUEUE_SHARDS queues", () => {
    // A calculation: its end row is its one statement; no step message, no notice.
    const calc = counts({ shared: {}, d1_statements: 1, queue_messages: 0, queued_attempts: 0 });
    expect(endsQueued(calc)).toMatchObject({ d1_statements: 0, read_model_rows: 1, queue_messages: 1, d1_rows_written: 12 });
    const c = ceilings(calc, { read_model_queue: 2 });
    expect(c.per_tenant).toEqual({ runs_per_s: 1000, by: "d1" });
    // Its shard now sees 1/100 of a statement a run (100,000); two read-model queues take 10,000 messages a second.
    expect(c.per_tenant_ends_queued).toEqual({ runs_per_s: 10_000, by: "read-model queue" });
    expect(ceilings(calc, {}).per_tenant_ends_queued).toEqual({ runs_per_s: 5000, by: "read-model queue" });
    // An approval for a subscribed tenant (a queued wait, 2 notices): 2 rows and 2 notices a run, each over two queues: 5,000.
    const approval = counts({ shared: {}, d1_statements: 1, read_model_rows: 1, queue_messages: 3, queued_attempts: 0 });
    expect(ceilings(approval, { read_model_queue: 2, webhook_queue: 2 }).per_tenant_ends_queued).toEqual({ runs_per_s: 5000, by: "webhook queue" });
    expect(ceilings(approval, { read_model_queue: 4, webhook_queue: 2 }).per_tenant_ends_queued).toEqual({ runs_per_s: 5000, by: "webhook queue" });
    expect(ceilings(approval, { read_model_queue: 1, webhook_queue: 4 }).per_tenant_ends_queued).toEqual({ runs_per_s: 2500, by: "read-model queue" });
    const n = needs(calc, { read_model_queue: 2 }, 5000);
    expect(n.one_tenant).toMatchObject({ reachable: false, by: "d1" });
    expect(n.one_tenant_ends_queued).toMatchObject({ reachable: true });
  });

  it("spreads the step messages over STEP_QUEUE_SHARDS queues, for one tenant and for all", () => {
    // 8 messages a run: one queue 5,000 / 8 = 625 runs/s; two queues 1,250.
    const dag = counts({ shared: {}, d1_statements: 1, queue_messages: 8 });
    expect(ceilings(dag, {}, undefined, [16]).total[16]).toEqual({ runs_per_s: 625, by: "queue" });
    expect(ceilings(dag, { step_queue: 2 }, undefined, [16]).total[16]).toEqual({ runs_per_s: 1250, by: "queue" });
    expect(ceilings(dag, { step_queue: 2 }).per_tenant).toEqual({ runs_per_s: 1000, by: "d1" });
    // What 5,000 runs/s needs: 5,000 × 8 / 5,000 = 8 step queues, whatever there are today.
    expect(needs(dag, { step_queue: 2 }, 5000).queues).toEqual({ step: 8, webhook: 1, "read-model": 1 });
  });

  it("bounds webhook notices by WEBHOOK_QUEUE_SHARDS queues, for one tenant and for all", () => {
    // A calc run of a subscribed tenant: no step message, one notice. Two step queues do not help it.
    const calc = counts({ shared: {}, d1_statements: 1, queue_messages: 1, queued_attempts: 0 });
    expect(ceilings(calc, { step_queue: 2 }, undefined, [16]).total[16]).toEqual({ runs_per_s: 5000, by: "webhook queue" });
    // A DAG with 8 attempts and 1 notice: the two step queues carry 10,000 / 8 = 1,250 a second.
    const dag = counts({ shared: {}, d1_statements: 1, queue_messages: 9, queued_attempts: 8 });
    expect(ceilings(dag, { step_queue: 2 }, undefined, [16]).total[16]).toEqual({ runs_per_s: 1250, by: "queue" });
    // An approval run: its wait and its end are two notices (and its waiting row one queued row).
    const approval = counts({ shared: {}, d1_statements: 1, read_model_rows: 1, queue_messages: 3, queued_attempts: 0 });
    // One webhook queue: 5,000 / 2 = 2,500 for all tenants; four: 10,000, so the read-model queue (5,000 / 1) binds first.
    expect(ceilings(approval, {}, undefined, [16]).total[16]).toEqual({ runs_per_s: 2500, by: "webhook queue" });
    expect(ceilings(approval, { webhook_queue: 4 }, undefined, [16]).total[16]).toEqual({ runs_per_s: 5000, by: "read-model queue" });
    // One tenant's runs spread over the queues too: with a roomy D1, 4 queues take its 2 notices a run at 10,000 a second.
    expect(ceilings(approval, { webhook_queue: 4 }, { ...LIMITS, d1_statements: 100_000 }).per_tenant).toEqual({ runs_per_s: 5000, by: "read-model queue" });
    expect(ceilings(approval, { webhook_queue: 1 }, { ...LIMITS, d1_statements: 100_000 }).per_tenant).toEqual({ runs_per_s: 2500, by: "webhook queue" });
    // 5,000 approval runs/s: 10,000 notices need 2 webhook queues.
    expect(needs(approval, { webhook_queue: 2 }, 5000).queues).toEqual({ step: 1, webhook: 2, "read-model": 1 });
  });

  it("sets no ceiling where nothing is counted", () => {
    const c = ceilings(counts({ shared: {}, d1_statements: 0, queue_messages: 0 }), {});
    expect(c.hottest).toBeNull();
    expect(c.per_tenant.runs_per_s).toBe(Infinity);
    expect(c.total[4]!.runs_per_s).toBe(Infinity);
  });

  it("says what a target rate needs: K, shards and queues, and whether one tenant can reach it", () => {
    const n = needs(counts({ shared: { tenant_limiter: 2, webhook_outbox: 1 } }), { tenant_limiter: 4 }, 5000);
    // 5,000 × 2 / 1,000 = 10 limiter shards; 5,000 × 1 / 1,000 = 5 outboxes; 5,000 × 2 / 1,000 = 10 D1 shards; 5,000 × 8 / 5,000 = 8 queues.
    expect(n.objects).toEqual({ tenant_limiter: 10, webhook_outbox: 5 });
    expect(n.shards).toBe(10);
    expect(n.queues).toEqual({ step: 8, webhook: 1, "read-model": 1 });
    // One tenant with K = 4: 10 D1 shards do not help it, its rows are on one (1,000 / 2 statements).
    expect(n.one_tenant).toEqual({ runs_per_s: 500, by: "d1", reachable: false });
    // Rounded up: 1,500 × 1 / 1,000 = 1.5 shards is 2; 1,500 × 2 / 1,000 = 3 limiter shards; 4,500 / 5,000 messages is 1 queue.
    expect(needs(counts({ shared: { tenant_limiter: 2 }, d1_statements: 1, queue_messages: 3 }), {}, 1500)).toMatchObject({
      objects: { tenant_limiter: 3 },
      shards: 2,
      queues: { step: 1, webhook: 1, "read-model": 1 },
    });
    const small = needs(counts({ shared: { tenant_limiter: 0.2 }, d1_statements: 1, queue_messages: 0 }), {}, 500);
    expect(small).toMatchObject({
      objects: { tenant_limiter: 1 },
      shards: 1,
      queues: { step: 1, webhook: 1, "read-model": 1 },
      one_tenant: { runs_per_s: 1000, reachable: true },
    });
  });
});

describe("the scale table", () => {
  const rows = [counts({ workload: "calc", shared: { tenant_limiter: 0 } }), counts({ shared: { tenant_limiter: 2, brand_new: 0.5 } })];
  const meta = { command: "npm run bench -- --workloads scale", date: "2026-12-07", spreadFrom: "tenant_limiter 2", setup: "test" };

  it("has a column for every class any run reported, new ones included", () => {
    expect(sharedClasses(rows)).toEqual(["tenant_limiter", "brand_new"]);
    const md = scaleMarkdown(rows, { tenant_limiter: 2 }, meta);
    expect(md.startsWith(START_MARKER) && md.endsWith(END_MARKER)).toBe(true);
    expect(md).toContain("| brand_new (req/run) |");
    // dag: limiter 2 ÷ 2 objects = 1; the D1 bound (2 statements) gives one tenant 500, N = 16 gives 8,000 but the queue caps it at 625.
    // Its ends queued: no statement of its own, 2 rows a run on the one read-model queue, 2,500; the step queue binds first, at 625.
    expect(md).toContain("| dag | run | 30 | 2 ÷ 2 = 1 | 0.5 | 2 | 12 | 8 | 500 (d1) | 625 (queue) | 500 (d1) | 625 (queue) | 625 (queue) |");
    // The targets name each kind of queue: 5,000 DAG runs/s send 40,000 step messages, 8 queues; no notice, no queued row.
    expect(md).toContain("| dag | tenant_limiter 10, brand_new 3 | 10 | step 8, webhook 1, read-model 1 |");
    expect(md).toContain(
      "| issue 33 target (10×: 5,000 runs/s) | dag | tenant_limiter 10, brand_new 3 | 10 | step 8, webhook 1, read-model 1 | no: 500 (d1) today; ends queued: 625 (queue) |",
    );
    expect(md).toContain(
      "10 D1 shards over all tenants, 8 step queues (1 today), 1 webhook queues (1 today) and 1 read-model queues (1 today); one tenant alone falls short on calc (500 (d1)), dag (500 (d1)), and with its ends queued on calc (625 (queue)), dag (625 (queue)).",
    );
  });

  it("replaces the table between its markers and leaves the rest of the file alone", () => {
    const doc = `# Doc\n\n## Scale\n\nProse.\n\n${START_MARKER}\nold\n${END_MARKER}\n\n## Next\n`;
    expect(spliceTable(doc, `${START_MARKER}\nnew\n${END_MARKER}`, "## Scale")).toBe(doc.replace("old", "new"));
    // No markers yet: at the end of the heading's section, before the next heading.
    const fresh = spliceTable("# Doc\n\n## Scale\n\nProse.\n\n## Next\n", "T", "## Scale");
    expect(fresh).toBe("# Doc\n\n## Scale\n\nProse.\n\nT\n\n## Next\n");
    // Neither markers nor heading: appended, under the heading when one is named.
    expect(spliceTable("# Doc\n", "T")).toBe("# Doc\n\nT\n");
    expect(spliceTable("# Doc\n", "T", "## Scale")).toBe("# Doc\n\n## Scale\n\nT\n");
    const files = new Map([["a.md", doc]]);
    const changed = publishScale(`${START_MARKER}\nold\n${END_MARKER}`, [{ path: "a.md" }], {
      read: (p) => files.get(p) ?? null,
      write: (p, t) => files.set(p, t),
    });
    expect(changed).toEqual([]);
  });

  it("reads K from TENANT_SLOT_SHARDS in wrangler.toml, and 1 without it", () => {
    expect(
      spreadFromConfig('[vars]\nTENANT_SLOT_SHARDS = "8"\nSTEP_QUEUE_SHARDS = "3"\nWEBHOOK_QUEUE_SHARDS = "4"\nREAD_MODEL_QUEUE_SHARDS = "5"\n').spread,
    ).toEqual({
      tenant_limiter: 8,
      step_queue: 3,
      webhook_queue: 4,
      read_model_queue: 5,
    });
    expect(spreadFromConfig("[vars]\n").spread).toEqual({ tenant_limiter: 1, step_queue: 1, webhook_queue: 1, read_model_queue: 1 });
  });
});
