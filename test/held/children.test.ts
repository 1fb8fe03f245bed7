// Child runs (Run.start) in workerd: a parent fans out to children and waits for them, a child's
// failure fails the parent naming it, a cancel reaches the children and theirs, a repeated
// creation finds the same child, the depth limit, the tenant's cap (a refused child waits and is
// admitted later), and a child's end told again after its parent could not be reached. Children
// that wait on signals stand for long work: no queue message is needed, and no test sleeps for time
// it could move.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { RunObject } from "../../src/durable/run/run-object";
import type { RunResource } from "../../src/durable/run/run-view";
import { DEV_TENANT } from "../../src/auth/api-keys";
import { runIdFor } from "../../src/durable/run/start-run";
import { api, createRun, getRun, newApiKey, SETTLE, uniq, waitForRun } from "../helpers";
import { eventTypes, events, stub } from "./harness";
import { probeOrder } from "../../src/durable/tenant/tenant-shards";
import { fillCap, releaseAll, shardCount } from "../tenant-slots";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const HOUR = 3_600_000;

/** A child plan that waits for the signal `name`, then outputs its payload. */
const waitsFor = (name: string) => ({ steps: [{ step_number: 1, tool: "Wait.signal", input: { name, timeout_seconds: 3600 } }] });

const signal = async (runId: string, name: string, payload: unknown, key?: string) => {
  const res = await api(`/runs/${runId}/signals/${name}`, { method: "POST", json: { payload }, ...(key ? { key } : {}) });
  expect(res.status, await res.clone().text()).toBe(202);
};

/** Waits until the run lists `n` children (their creation happens after the parent's command). */
const withChildren = (runId: string, n: number, key?: string) => waitForRun(runId, (r) => r.children.length >= n, 20_000, key);

const fanOut = (names: string[]) => ({
  plan: {
    steps: [
      ...names.map((name, i) => ({ step_number: i + 1, tool: "Run.start", input: { plan: waitsFor(name) } })),
      {
        step_number: names.length + 1,
        tool: "Run.collect",
        input: { values: names.map((_n, i) => `{{steps.${i + 1}.output.result}}`) },
        depends_on: names.map((_n, i) => i + 1),
      },
    ],
  },
});

describe("Run.start", () => {
  it("a parent waits for three children started in parallel and ends with their results", async () => {
    const parent = await createRun(fanOut(["a", "b", "c"]));
    expect(parent.parent_run_id).toBeNull();
    const started = await withChildren(parent.run_id, 3);
    expect(started.status).toBe("running");
    expect(started.children.map((c) => c.step)).toEqual([1, 2, 3]);
    const children = await Promise.all(started.children.map((c) => getRun(c.run_id)));
    for (const [i, child] of children.entries()) {
      expect(child).toMatchObject({ status: "waiting", parent_run_id: parent.run_id, trace_id: parent.trace_id });
      expect(started.execution_log[i]).toMatchObject({ status: "running", attempts: 1 });
    }
    // Each child ends when its signal comes; the parent hears it from the child.
    await signal(children[1]!.run_id, "b", { n: 2 });
    await signal(children[0]!.run_id, "a", { n: 1 });
    expect((await waitForRun(parent.run_id, (r) => r.children.filter((c) => c.status === "completed").length === 2)).status).toBe("running");
    await signal(children[2]!.run_id, "c", { n: 3 });
    const done = await waitForRun(parent.run_id);
    expect(done).toMatchObject({ status: "completed", result: [{ n: 1 }, { n: 2 }, { n: 3 }] });
    expect(done.execution_log[0]!.output).toEqual({ run_id: children[0]!.run_id, status: "completed", result: { n: 1 } });
    expect(done.children.map((c) => c.status)).toEqual(["completed", "completed", "completed"]);
    // Waiting on a child held no queue consumer: the parent sent no message.
    expect(((await (await api(`/runs/${parent.run_id}/usage`)).json()) as { queue_messages: number }).queue_messages).toBe(0);
  });

  it("plans a fan-out prompt with the rule planner and ends with the children's results in order", async () => {
    const parent = await createRun({ prompt: "in parallel, for each of: 2, 3, 4, calculate {item} * 10" });
    const done = await waitForRun(parent.run_id);
    expect(done).toMatchObject({ status: "completed", result: [20, 30, 40] });
    expect(done.children.map((c) => c.status)).toEqual(["completed", "completed", "completed"]);
    const child = await getRun(done.children[0]!.run_id);
    expect(child).toMatchObject({ prompt: "calculate 2 * 10", parent_run_id: parent.run_id, result: 20 });
  });

  it("a failed child fails its step and the parent, naming the child", async () => {
    const failing = { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 / 0" } }] };
    const parent = await createRun({ plan: { steps: [{ step_number: 1, tool: "Run.start", input: { plan: failing } }] } });
    const done = await waitForRun(parent.run_id);
    const childId = done.children[0]!.run_id;
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "child_failed", step_number: 1 });
    expect(done.error!.message).toContain(`Child run ${childId} failed`);
    expect(done.error!.message).toContain("division_by_zero");
    expect(await getRun(childId)).toMatchObject({ status: "failed", parent_run_id: parent.run_id });
  });

  it("without wait the step outputs the child's run id at once, and the child runs on", async () => {
    const parent = await createRun({ plan: { steps: [{ step_number: 1, tool: "Run.start", input: { plan: waitsFor("later"), wait: false } }] } });
    const done = await waitForRun(parent.run_id);
    const childId = done.children[0]!.run_id;
    expect(done).toMatchObject({ status: "completed", result: { run_id: childId } });
    expect((await getRun(childId)).status).toBe("waiting");
    await signal(childId, "later", "ok");
    // The ended parent still hears of its child's end.
    await waitForRun(parent.run_id, (r) => r.children[0]!.status === "completed");
  });

  it("cancelling a parent cancels its running children and theirs", async () => {
    const grandchild = { steps: [{ step_number: 1, tool: "Run.start", input: { plan: waitsFor("never") } }] };
    const parent = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Run.start", input: { plan: waitsFor("never") } },
          { step_number: 2, tool: "Run.start", input: { plan: grandchild } },
        ],
      },
    });
    const started = await withChildren(parent.run_id, 2);
    const middle = await withChildren(started.children[1]!.run_id, 1);
    const grand = middle.children[0]!.run_id;
    expect((await getRun(grand)).parent_run_id).toBe(middle.run_id);

    const res = await api(`/runs/${parent.run_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    for (const id of [started.children[0]!.run_id, middle.run_id, grand]) expect((await waitForRun(id)).status).toBe("cancelled");
    // Each child told its parent: the lists show them cancelled.
    const after = await waitForRun(parent.run_id, (r) => r.children.every((c) => c.status === "cancelled"));
    expect(after.status).toBe("cancelled");
    await waitForRun(middle.run_id, (r) => r.children[0]!.status === "cancelled");
  });

  it("a repeated creation of a step's child (a re-delivered dispatch) finds the same child", async () => {
    const parent = await createRun({ plan: { steps: [{ step_number: 1, tool: "Run.start", input: { plan: waitsFor("go") } }] } });
    const first = await withChildren(parent.run_id, 1);
    const childId = first.children[0]!.run_id;
    const dispatch = (await events(parent.run_id)).find((e) => e.type === "step.started")!.seq;
    // The same dispatch handled twice more, as after a crash before its outcome was recorded.
    await runInDurableObject(stub(parent.run_id), async (instance: RunObject) => {
      const family = (instance as unknown as { family: { startChildren(b: { step: number; dispatch: number }[]): Promise<void> } }).family;
      const again = family.startChildren.bind(family);
      await again([{ step: 1, dispatch }]);
      await again([{ step: 1, dispatch }]);
    });
    const after = await getRun(parent.run_id);
    expect(after.children).toEqual([{ run_id: childId, step: 1, status: "waiting" }]);
    expect(after.execution_log[0]).toMatchObject({ status: "running", attempts: 1 });
    expect((await events(childId)).filter((e) => e.type === "run.created")).toHaveLength(1);
    expect((await eventTypes(parent.run_id)).filter((t) => t === "child.started")).toHaveLength(1);
    await signal(childId, "go", 1);
    expect(await waitForRun(parent.run_id)).toMatchObject({ status: "completed", result: { run_id: childId, status: "completed", result: 1 } });
  });

  it("a dispatch whose lease ran out before its child was recorded starts again and finds the same child", async () => {
    const key = `lease-${uniq()}`;
    const parentId = await runIdFor(DEV_TENANT, key);
    // The parent's first creation attempt is lost (as if the object died mid-way): its clock is an
    // hour ahead so its own alarm stays out of the way, and startChildren does nothing the first time.
    let lost = 0;
    await runInDurableObject(stub(parentId), (instance: RunObject) => {
      instance.clock = () => Date.now() + HOUR;
      const inner = (instance as unknown as { family: { startChildren(b: unknown[]): Promise<void> } }).family;
      const real = inner.startChildren.bind(inner);
      inner.startChildren = async (b) => {
        if (lost++ === 0) return;
        return real(b);
      };
    });
    const parent = await createRun({ plan: { steps: [{ step_number: 1, tool: "Run.start", input: { plan: waitsFor("go") } }] } }, { "idempotency-key": key });
    expect(parent.run_id).toBe(parentId);
    expect(parent.children).toEqual([]);
    // Past the dispatch's lease the watchdog takes it back and retries; the retry creates the child.
    await runInDurableObject(stub(parentId), (instance: RunObject) => {
      instance.clock = () => Date.now() + 2 * HOUR;
    });
    expect(await runDurableObjectAlarm(stub(parentId))).toBe(true);
    const retried = await getRun(parentId);
    expect(retried.execution_log[0]).toMatchObject({ status: "pending", error: { code: "lease_expired" } });
    await runInDurableObject(stub(parentId), (instance: RunObject) => {
      instance.clock = () => Date.now() + 3 * HOUR;
    });
    await runDurableObjectAlarm(stub(parentId));
    const started = await withChildren(parentId, 1);
    expect(started.execution_log[0]).toMatchObject({ status: "running", attempts: 2 });
    expect(started.children[0]!.run_id).toBe(await runIdFor(DEV_TENANT, `child:${parentId}:1:0`));
  });

  it("fails a step that would nest deeper than MAX_RUN_DEPTH with run_depth_exceeded", async () => {
    // Six levels of Run.start, each starting the next: the sixth child would be depth 6 > 5.
    let plan: unknown = { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" } }] };
    for (let i = 0; i < 6; i++) plan = { steps: [{ step_number: 1, tool: "Run.start", input: { plan } }] };
    const top = await createRun({ plan });
    const done = await waitForRun(top.run_id);
    expect(done.status).toBe("failed");
    // Walk down to the deepest run that exists: depth 5, whose step could not start a sixth.
    let run: RunResource = done;
    for (let depth = 0; depth < 5; depth++) run = await getRun(run.children[0]!.run_id);
    expect(run.children).toEqual([]);
    expect(run.execution_log[0]!.error).toMatchObject({ code: "run_depth_exceeded" });
    expect(run.error!.message).toContain("MAX_RUN_DEPTH");
    expect(done.error!.message).toContain("run_depth_exceeded");
  });

  it("children count against their root's slot: three parents at the last three slots all start their children and complete", async () => {
    const tenant = `cap-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    // 97 of the tenant's 100 slots are taken: three parents take the last three, and their children
    // take none. The parents' ids come from their Idempotency-Keys, so the three free slots are
    // left on the shards they ask first.
    const keys = ["p0", "p1", "p2"];
    const homes = await Promise.all(keys.map(async (k) => probeOrder(await runIdFor(tenant, k), 100, shardCount())[0]!));
    const placeholders = await fillCap(tenant, 100, homes);
    expect(placeholders).toHaveLength(97);
    const body = { plan: { steps: [{ step_number: 1, tool: "Run.start", input: { plan: waitsFor("s") } }] } };
    const parents: string[] = [];
    for (const k of keys) {
      const res = await api("/runs", { method: "POST", key: secret, json: body, headers: { "idempotency-key": k } });
      expect(res.status).toBe(201);
      parents.push(((await res.json()) as { run_id: string }).run_id);
    }
    // The cap is full: a fourth top-level run is refused, and no child was.
    expect((await api("/runs", { method: "POST", key: secret, json: body })).status).toBe(429);
    for (const id of parents) {
      const started = await waitForRun(id, (r) => r.children.length === 1, 20_000, secret);
      expect(started.execution_log[0]).toMatchObject({ status: "running", deferrals: 0 });
      await signal(started.children[0]!.run_id, "s", id, secret);
    }
    for (const id of parents) expect(await waitForRun(id, undefined, 20_000, secret)).toMatchObject({ status: "completed", result: { result: id } });
    await releaseAll(tenant, placeholders);
  });

  it("a child retries telling its parent of its end until the parent has it", async () => {
    const parent = await createRun({ plan: { steps: [{ step_number: 1, tool: "Run.start", input: { plan: waitsFor("end") } }] } });
    const childId = (await withChildren(parent.run_id, 1)).children[0]!.run_id;
    // The first call fails: the parent's childEnded throws once.
    let calls = 0;
    await runInDurableObject(stub(parent.run_id), (instance: RunObject) => {
      // RPC methods must live on the prototype: the instance gets one of its own that fails once.
      const proto = Object.getPrototypeOf(instance) as RunObject;
      const failingOnce = Object.create(proto) as RunObject;
      failingOnce.childEnded = async function (this: RunObject, notice) {
        if (calls++ === 0) throw new Error("parent unreachable");
        return proto.childEnded.call(this, notice);
      };
      Object.setPrototypeOf(instance, failingOnce);
    });
    // The child's clock runs an hour ahead, so its retry is due only when the test runs its alarm.
    await setClock(childId, HOUR);
    await signal(childId, "end", "done");
    const child = await waitForRun(childId);
    expect(child.status).toBe("completed");
    // The child's end is recorded, its notice not acknowledged: the parent still waits.
    await until(() => calls >= 1);
    expect(await eventTypes(childId)).not.toContain("parent.notified");
    expect((await getRun(parent.run_id)).status).toBe("running");
    // The child's watchdog tries again: the parent hears of it, once.
    await setClock(childId, 2 * HOUR);
    expect(await runDurableObjectAlarm(stub(childId))).toBe(true);
    expect(calls).toBe(2);
    expect(await eventTypes(childId)).toContain("parent.notified");
    const done = await waitForRun(parent.run_id);
    expect(done).toMatchObject({ status: "completed", result: { run_id: childId, status: "completed", result: "done" } });
    // Told again (a duplicate notice): nothing changes.
    const before = await events(parent.run_id);
    const again = await env.RUNS.getByName(parent.run_id).childEnded({
      tenant: child.tenant,
      step: 1,
      run_id: childId,
      status: "completed",
      result: "done",
      error: null,
    });
    expect(again.acknowledged).toBe(true);
    expect(await events(parent.run_id)).toEqual(before);
    expect(TERMINAL.has(done.status)).toBe(true);
  });
});

/** Moves the run object's clock `ms` ahead of real time (creating the object if it does not exist yet). */
async function setClock(runId: string, ms: number): Promise<void> {
  await runInDurableObject(stub(runId), (instance: RunObject) => {
    instance.clock = () => Date.now() + ms;
  });
}

/** Until `check` holds: for an effect the run object does in the background. */
async function until(check: () => boolean): Promise<void> {
  await vi.waitFor(() => expect(check()).toBe(true), SETTLE);
}
