// Crane's own /mcp, driven by the official SDK's client over the Worker's fetch handler. Each
// client a test opens is closed after it.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker-provider.js";
import { exports } from "cloudflare:workers";
import { afterEach } from "vitest";
import { DEV_KEY } from "./helpers";

const open: Client[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

export async function craneMcpClient(key: string = DEV_KEY): Promise<Client> {
  const c = new Client({ name: "crane-test", version: "1.0.0" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  const transport = new StreamableHTTPClientTransport(new URL("http://crane.test/mcp"), {
    fetch: (url, init) => exports.default.fetch(new Request(url, init)),
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await c.connect(transport);
  open.push(c);
  return c;
}

export const callTool = async (c: Client, name: string, args: Record<string, unknown>) => (await c.callTool({ name, arguments: args })) as CallToolResult;
