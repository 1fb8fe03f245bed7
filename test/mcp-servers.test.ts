import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { RunResource } from "../src/durable/run/run-view";
import { implementationOf } from "../src/tools/implementations";
import { api, createRun, errorOf, newApiKey, toolContext, uniq, waitForRun } from "./helpers";

// The MCP server is real (the official SDK's, test/mcp/mock-mcp-server.ts, started with the test
// config); each test uses its own instance path so their state stays apart.
const MCP = env.MCP_TEST_URL;
const upstream = inject("upstreamUrl");

interface ServerView {
  name: string;
  url: string;
  transport: string;
  header_names: string[];
  tools: { name: string; description: string; input_schema: Record<string, unknown> }[];
  last_error: string | null;
}

async function register(body: Record<string, unknown>, key?: string): Promise<Response> {
  return api("/mcp-servers", { method: "POST", json: body, ...(key ? { key } : {}) });
}

async function registered(name: string, url: string, headers?: Record<string, string>): Promise<ServerView> {
  const res = await register({ name, url, ...(headers ? { headers } : {}) });
  const body = (await res.json()) as ServerView;
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

const plan = (tool: string, input: Record<string, unknown>) => ({ plan: { steps: [{ step_number: 1, tool, input }] } });
const quick = { retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20 } };

describe("MCP servers as tools", () => {
  it("registers a Streamable HTTP server, lists its tools in the catalogue and runs them", async () => {
    const name = `calc-${uniq()}`;
    const server = await registered(name, `${MCP}/s/${name}/mcp`);
    expect(server).toMatchObject({ name, transport: "streamable-http", header_names: [], last_error: null });
    expect(server.tools.map((t) => t.name)).toEqual(expect.arrayContaining([`mcp.${name}.add`, `mcp.${name}.echo`, `mcp.${name}.broken`]));

    const tools = (await (await api("/tools")).json()) as { tools: { name: string; input_schema: { properties?: Record<string, unknown> } }[] };
    const add = tools.tools.find((t) => t.name === `mcp.${name}.add`);
    expect(add?.input_schema.properties).toHaveProperty("a");
    expect(tools.tools.some((t) => t.name === "Calculator.evaluate")).toBe(true);

    expect(((await (await api(`/mcp-servers/${name}`)).json()) as ServerView).name).toBe(name);
    expect(((await (await api("/mcp-servers")).json()) as { servers: ServerView[] }).servers.map((s) => s.name)).toContain(name);

    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: `mcp.${name}.add`, input: { a: 2, b: 40 } },
          { step_number: 2, tool: `mcp.${name}.echo`, input: { text: "sum {{steps.1.output.sum}}" }, depends_on: [1] },
        ],
      },
    });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    // structuredContent when the tool gives one, else the content list.
    expect(done.execution_log[0]!.output).toEqual({ sum: 42 });
    expect(done.execution_log[1]!.output).toEqual([{ type: "text", text: "sum 42" }]);
  });

  it("falls back to the HTTP+SSE transport for a server that only speaks it", async () => {
    const name = `old-${uniq()}`;
    const server = await registered(name, `${MCP}/sse/${name}/sse`);
    expect(server.transport).toBe("sse");
    const done = await waitForRun((await createRun(plan(`mcp.${name}.add`, { a: 1, b: 2 }))).run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.output).toEqual({ sum: 3 });
  });

  it("refuses a plan naming an unknown MCP tool, or an input that fails the tool's JSON Schema, with the path", async () => {
    const name = `v-${uniq()}`;
    await registered(name, `${MCP}/s/${name}/mcp`);
    const unknown = await api("/runs", { method: "POST", json: plan(`mcp.${name}.nope`, {}) });
    expect(unknown.status).toBe(400);
    const u = await errorOf(unknown);
    expect(u.details).toEqual([expect.objectContaining({ code: "unknown_tool", path: ["steps", 0, "tool"] })]);
    expect(JSON.stringify(u.details)).toContain(`mcp.${name}.add`);

    const bad = await api("/runs", { method: "POST", json: plan(`mcp.${name}.add`, { a: "two", b: 2 }) });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).details).toEqual([expect.objectContaining({ code: "invalid_input", path: ["steps", 0, "input", "a"] })]);

    const missing = await api("/runs", { method: "POST", json: plan(`mcp.${name}.add`, { a: 1 }) });
    expect(missing.status).toBe(400);
    expect((await errorOf(missing)).details).toEqual([expect.objectContaining({ code: "invalid_input", path: ["steps", 0, "input", "b"] })]);
  });

  it("retries a transient failure (HTTP 503) and succeeds", async () => {
    const name = `flaky-${uniq()}`;
    await registered(name, `${MCP}/s/${name}/mcp`);
    const done = await waitForRun((await createRun({ ...plan(`mcp.${name}.flaky`, { key: "k", failures: 2 }), options: quick })).run_id);
    expect(done.status).toBe("completed");
    // The server saw the two refused calls and the one that went through.
    expect(done.execution_log[0]).toMatchObject({ attempts: 3, output: { calls: 3 } });
  });

  it("fails an isError result at once: the server's own answer is not retried", async () => {
    const name = `err-${uniq()}`;
    await registered(name, `${MCP}/s/${name}/mcp`);
    const done = await waitForRun((await createRun({ ...plan(`mcp.${name}.broken`, {}), options: quick })).run_id);
    expect(done.status).toBe("failed");
    expect(done.execution_log[0]).toMatchObject({ attempts: 1, error: { code: "mcp_tool_error" } });
    expect(done.execution_log[0]!.error!.message).toContain("the widget is jammed");
  });

  it("times a slow tool out at the step's timeout", async () => {
    const name = `slow-${uniq()}`;
    await registered(name, `${MCP}/s/${name}/mcp`);
    const run = await createRun({ ...plan(`mcp.${name}.slow`, { ms: 20_000 }), options: { step_timeout_ms: 200, retry: { max_attempts: 1 } } });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("failed");
    expect(done.execution_log[0]!.error).toMatchObject({ code: "step_timeout" });
  });

  it("keeps header values secret: sealed in D1, sent to the server, never answered", async () => {
    const name = `auth-${uniq()}`;
    const url = `${MCP}/auth/${name}/mcp`;
    // Without its header the server answers 401: not stored.
    const refused = await register({ name, url });
    expect(refused.status).toBe(502);
    expect((await errorOf(refused)).message).toMatch(/authorization|401/i);
    expect((await api(`/mcp-servers/${name}`)).status).toBe(404);

    const created = await register({ name, url, headers: { Authorization: "Bearer mcp-secret" } });
    const text = await created.text();
    expect(created.status).toBe(201);
    expect(text).not.toContain("mcp-secret");
    expect(JSON.parse(text)).toMatchObject({ header_names: ["Authorization"] });
    for (const path of [`/mcp-servers/${name}`, "/mcp-servers", "/tools"]) expect(await (await api(path)).text()).not.toContain("mcp-secret");
    const refreshed = await api(`/mcp-servers/${name}/refresh`, { method: "POST" });
    expect(refreshed.status).toBe(200);
    expect(await refreshed.text()).not.toContain("mcp-secret");

    const row = await env.DB.prepare("SELECT headers FROM mcp_servers WHERE tenant = 'dev' AND name = ?").bind(name).first<{ headers: string }>();
    expect(row!.headers).not.toContain("mcp-secret");
    expect(row!.headers).not.toContain(btoa("Bearer mcp-secret").slice(0, 12));

    // The sealed value opens where it is needed: the step reaches the server with it.
    const done = await waitForRun((await createRun(plan(`mcp.${name}.echo`, { text: "hi" }))).run_id);
    expect(done.status).toBe("completed");
    const seen = (await (await fetch(`${MCP}/control/${name}/requests`)).json()) as { rpc?: string; authorization?: string }[];
    expect(seen.filter((r) => r.rpc === "tools/call").map((r) => r.authorization)).toEqual(["Bearer mcp-secret"]);
  });

  it("refuses private and metadata addresses, also behind a redirect, and stores nothing", async () => {
    for (const url of ["http://169.254.169.254/mcp", "http://10.1.2.3/mcp", "http://[::1]:9/mcp", "http://metadata.google.internal/mcp"]) {
      const name = `p-${uniq()}`;
      const res = await register({ name, url });
      expect(res.status, url).toBe(400);
      expect((await errorOf(res)).code).toBe("address_not_allowed");
      expect((await api(`/mcp-servers/${name}`)).status).toBe(404);
    }
    const name = `r-${uniq()}`;
    const res = await register({ name, url: `${upstream}/redirect?to=${encodeURIComponent("http://10.1.2.3/mcp")}` });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err).toMatchObject({ code: "address_not_allowed" });
    expect(err.message).toContain("redirect");
    expect((await api(`/mcp-servers/${name}`)).status).toBe(404);
  });

  it("answers 502 for an unreachable server or one that does not speak MCP, and stores nothing", async () => {
    // (workerd logs "Network connection lost" for the refused connection even though it is caught.)
    for (const url of ["http://127.0.0.1:1/mcp", `${upstream}/ok`]) {
      const name = `x-${uniq()}`;
      const res = await register({ name, url });
      expect(res.status, url).toBe(502);
      const err = await errorOf(res);
      expect(err.code).toBe("mcp_server_unreachable");
      expect(err.message).toContain(url);
      expect((await api(`/mcp-servers/${name}`)).status).toBe(404);
    }
  });

  it("keeps one tenant's servers and tools from another", async () => {
    const name = `mine-${uniq()}`;
    await registered(name, `${MCP}/s/${name}/mcp`);
    const other = (await newApiKey(`other-${uniq()}`)).secret;
    expect(((await (await api("/mcp-servers", { key: other })).json()) as { servers: unknown[] }).servers).toEqual([]);
    expect((await api(`/mcp-servers/${name}`, { key: other })).status).toBe(404);
    expect((await api(`/mcp-servers/${name}/refresh`, { method: "POST", key: other })).status).toBe(404);
    expect((await api(`/mcp-servers/${name}`, { method: "DELETE", key: other })).status).toBe(404);
    expect(await (await api("/tools", { key: other })).text()).not.toContain(name);
    const res = await api("/runs", { method: "POST", json: plan(`mcp.${name}.add`, { a: 1, b: 2 }), key: other });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).details).toEqual([expect.objectContaining({ code: "unknown_tool" })]);
    // The same name is free for the other tenant.
    expect((await register({ name, url: `${MCP}/s/${name}/mcp` }, other)).status).toBe(201);
  });

  it("lists tools again on refresh, and on a step naming a tool the cached list lacks (once)", async () => {
    const name = `grow-${uniq()}`;
    await registered(name, `${MCP}/s/${name}/mcp`);
    await fetch(`${MCP}/control/${name}/tools`, { method: "POST", body: JSON.stringify({ name: "late" }) });
    // A step that names it before the catalogue knows it: the consumer lists the tools again.
    const tool = implementationOf(`mcp.${name}.late`)!;
    const r = await tool.execute({ text: "x" }, toolContext());
    expect(r).toMatchObject({ success: true, output: [{ type: "text", text: "late: x" }] });
    const after = (await (await api(`/mcp-servers/${name}`)).json()) as ServerView;
    expect(after.tools.map((t) => t.name)).toContain(`mcp.${name}.late`);
    // A tool the server does not have either: a clear error after one more listing.
    const listsBefore = ((await (await fetch(`${MCP}/control/${name}/requests`)).json()) as { rpc?: string }[]).filter((q) => q.rpc === "tools/list").length;
    const missing = await implementationOf(`mcp.${name}.ghost`)!.execute({}, toolContext());
    expect(missing).toMatchObject({ success: false, error: { code: "mcp_unknown_tool", retryable: false } });
    const listsAfter = ((await (await fetch(`${MCP}/control/${name}/requests`)).json()) as { rpc?: string }[]).filter((q) => q.rpc === "tools/list").length;
    expect(listsAfter).toBe(listsBefore + 1);

    await fetch(`${MCP}/control/${name}/tools`, { method: "POST", body: JSON.stringify({ name: "later" }) });
    const refreshed = await api(`/mcp-servers/${name}/refresh`, { method: "POST" });
    expect(refreshed.status).toBe(200);
    expect(((await refreshed.json()) as ServerView).tools.map((t) => t.name)).toContain(`mcp.${name}.later`);
  });

  it("records a failed refresh as the server's last error and keeps its tools", async () => {
    const name = `down-${uniq()}`;
    const before = await registered(name, `${MCP}/s/${name}/mcp`);
    await fetch(`${MCP}/control/${name}/down`, { method: "POST" });
    const res = await api(`/mcp-servers/${name}/refresh`, { method: "POST" });
    expect(res.status).toBe(502);
    const view = (await (await api(`/mcp-servers/${name}`)).json()) as ServerView;
    expect(view.last_error).toContain("503");
    expect(view.tools).toEqual(before.tools);
  });

  it("deletes a server: its tools leave the catalogue", async () => {
    const name = `gone-${uniq()}`;
    await registered(name, `${MCP}/s/${name}/mcp`);
    expect((await register({ name, url: `${MCP}/s/${name}/mcp` })).status).toBe(409);
    expect((await api(`/mcp-servers/${name}`, { method: "DELETE" })).status).toBe(204);
    expect((await api(`/mcp-servers/${name}`)).status).toBe(404);
    expect(await (await api("/tools")).text()).not.toContain(`mcp.${name}.`);
    const res = await api("/runs", { method: "POST", json: plan(`mcp.${name}.add`, { a: 1, b: 2 }) });
    expect(res.status).toBe(400);
  });

  it("validates the registration body", async () => {
    for (const body of [
      { name: "Bad Name", url: `${MCP}/s/x/mcp` },
      { name: "ok", url: "ftp://x/mcp" },
      { name: "ok" },
      { name: "ok", url: `${MCP}/s/x/mcp`, headers: { "bad header": "v" } },
    ]) {
      const res = await register(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });
});

export type { RunResource };
