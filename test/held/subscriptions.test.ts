import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { api, createRun, errorOf, SETTLE } from "../helpers";
import { deliver, events, sentMessages, stub } from "./harness";

interface Wire {
  seq: number;
  type: string;
  at: string;
  data: unknown;
}

/** Opens a WebSocket subscription through the API and collects what arrives. */
async function watch(runId: string, after?: number) {
  const res = await api(`/runs/${runId}/ws${after !== undefined ? `?after=${after}` : ""}`, { headers: { upgrade: "websocket" } });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  const seen: Wire[] = [];
  let pongs = 0;
  ws.addEventListener("message", (e) => {
    if (e.data === "pong")
      pongs++; // the runtime's heartbeat answer
    else seen.push(JSON.parse(String(e.data)) as Wire);
  });
  const until = (done: (s: Wire[]) => boolean) =>
    vi.waitFor(() => {
      if (!done(seen)) throw new Error(`not there: ${JSON.stringify(seen.map((e) => e.type))}`);
      return seen;
    }, SETTLE);
  return { ws, seen, until, pongs: () => pongs };
}

const seqs = (s: Wire[]) => s.map((e) => e.seq);
const finished = (s: Wire[]) => s.some((e) => e.type === "run.completed" || e.type === "run.failed");

describe("WebSocket subscriptions", () => {
  it("sends the backlog, then live events in order, then stays open after the terminal event", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1, then calculate the result * 3" });
    const sub = await watch(run.run_id);
    const backlog = await sub.until((s) => s.length >= (run.last_event_seq ?? 0));
    expect(seqs(backlog)).toEqual(Array.from({ length: backlog.length }, (_, i) => i + 1));
    await deliver(...(await sentMessages(run.run_id)));
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 2));
    const all = await sub.until(finished);
    expect(seqs(all)).toEqual((await events(run.run_id)).map((e) => e.seq));
    expect(all.at(-1)).toMatchObject({ type: "run.completed", data: { result: 6 } });
    sub.ws.send("ping"); // answered by the runtime, without waking the object
    await vi.waitFor(() => expect(sub.pongs()).toBe(1), SETTLE);
    expect(sub.ws.readyState).toBe(WebSocket.OPEN);
    sub.ws.close(1000, "done");
  });

  it("resumes after a reconnect with after=<last seq seen>, without gaps or duplicates", async () => {
    const run = await createRun({ prompt: "list my todos and list my open todos, then list my done todos" });
    const first = await watch(run.run_id);
    await deliver((await sentMessages(run.run_id))[0]!);
    const partial = await first.until((s) => s.some((e) => e.type === "step.succeeded"));
    const last = partial.at(-1)!.seq;
    first.ws.close(1000, "network blip");
    await deliver((await sentMessages(run.run_id))[1]!); // happens while nobody listens
    const second = await watch(run.run_id, last);
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 3));
    const rest = await second.until(finished);
    const combined = [...partial.filter((e) => e.seq <= last), ...rest];
    expect(seqs(combined)).toEqual((await events(run.run_id)).map((e) => e.seq));
  });

  it("serves two subscribers the same events", async () => {
    const run = await createRun({ prompt: "list my todos" });
    const a = await watch(run.run_id);
    const b = await watch(run.run_id);
    await deliver(...(await sentMessages(run.run_id)));
    expect(seqs(await a.until(finished))).toEqual(seqs(await b.until(finished)));
  });

  it("gives a subscriber that joins after the run finished the whole history", async () => {
    const run = await createRun({ prompt: "list my open todos" });
    await deliver(...(await sentMessages(run.run_id)));
    const late = await watch(run.run_id);
    const all = await late.until(finished);
    expect(seqs(all)).toEqual((await events(run.run_id)).map((e) => e.seq));
  });

  it("keeps delivering after the run object is evicted between events (hibernation)", async () => {
    const run = await createRun({ prompt: "list my todos, then calculate 1 + 5" });
    const sub = await watch(run.run_id);
    await deliver((await sentMessages(run.run_id))[0]!);
    await sub.until((s) => s.some((e) => e.type === "step.succeeded"));
    await evictDurableObject(stub(run.run_id));
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 2));
    const all = await sub.until(finished);
    expect(seqs(all)).toEqual((await events(run.run_id)).map((e) => e.seq));
    expect(all.at(-1)).toMatchObject({ type: "run.completed", data: { result: 6 } });
  });

  it("refuses a request that is not an upgrade, an unknown run and a bad after", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1" });
    const plain = await api(`/runs/${run.run_id}/ws`);
    expect(plain.status).toBe(426);
    expect((await errorOf(plain)).code).toBe("upgrade_required");
    expect((await api(`/runs/run_${"0".repeat(32)}/ws`, { headers: { upgrade: "websocket" } })).status).toBe(404);
    expect((await api(`/runs/${run.run_id}/ws?after=-3`, { headers: { upgrade: "websocket" } })).status).toBe(400);
  });
});

describe("Server-Sent Events", () => {
  /** Reads SSE frames until `done` holds; returns the parsed events and the raw text. */
  async function readSse(res: Response, done: (ids: number[], text: string) => boolean) {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const ids = () => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    const deadline = Date.now() + 5000;
    while (!done(ids(), text)) {
      if (Date.now() > deadline) throw new Error(`SSE stalled: ${text}`);
      const { value, done: end } = await reader.read();
      if (end) break;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    return { ids: ids(), text };
  }

  it("streams the backlog and live events, and resumes with Last-Event-ID", async () => {
    const run = await createRun({ prompt: "calculate 3 + 3" });
    const res = await api(`/runs/${run.run_id}/stream`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const pending = readSse(res, (_ids, text) => text.includes('"type":"run.completed"'));
    await deliver(...(await sentMessages(run.run_id)));
    const { ids, text } = await pending;
    const total = (await events(run.run_id)).length;
    expect(ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(text).toContain('"type":"run.completed"');

    const resumed = await api(`/runs/${run.run_id}/stream`, { headers: { "last-event-id": String(total - 2) } });
    const tail = await readSse(resumed, (got) => got.length >= 2);
    expect(tail.ids).toEqual([total - 1, total]);
  });

  it("rejects a malformed Last-Event-ID", async () => {
    const run = await createRun({ prompt: "calculate 3 + 4" });
    const res = await api(`/runs/${run.run_id}/stream`, { headers: { "last-event-id": "abc" } });
    expect(res.status).toBe(400);
  });
});
