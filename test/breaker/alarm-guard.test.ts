// A breaker's alarm (the end of its cooldown) under a real fault: its state table is renamed
// away in this file's isolated storage, so saving the half-open state throws. The alarm must be
// re-armed with backoff, the breaker stay open as its storage has it, and half-open on the retry.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { alarmBackoffMs } from "../../src/durable/alarm-guard";
import { breakerName, type ToolBreaker } from "../../src/durable/breaker/tool-breaker";
import { uniq } from "../helpers";

describe("a breaker's alarm", () => {
  it("re-arms with backoff when saving the half-open state fails, and half-opens on the retry", async () => {
    const tool = `Guarded.tool-${uniq()}`;
    const stub = env.BREAKERS.getByName(breakerName("dev", tool));
    // This project's breakers trip after 3 failures.
    for (let i = 0; i < 3; i++) await stub.record(tool, { verdict: "dependency_failure", probe: false });
    expect((await stub.status(tool)).state).toBe("open");
    await runInDurableObject(stub, (_b: ToolBreaker, state) => state.storage.sql.exec("ALTER TABLE breaker RENAME TO breaker_away"));

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const left = await runInDurableObject(stub, async (_b: ToolBreaker, state) => (await state.storage.getAlarm())! - Date.now());
    expect(left).toBeGreaterThan(alarmBackoffMs(1, () => 0) - 1000);
    expect(left).toBeLessThanOrEqual(alarmBackoffMs(1, () => 1));
    expect((await stub.status(tool)).state).toBe("open");

    await runInDurableObject(stub, (_b: ToolBreaker, state) => state.storage.sql.exec("ALTER TABLE breaker_away RENAME TO breaker"));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.status(tool)).state).toBe("half_open");
  });
});
