// The headers registered with an MCP server (an Authorization token, an API key) are secrets:
// their values are sealed with AES-256-GCM under MCP_HEADER_KEY before they reach D1, and opened
// only in the isolate that calls the server. The header names stay readable, so listings can say
// which headers a server has without revealing them. Each seal uses a fresh random IV, and the
// tenant and server name are the additional data: a sealed blob copied to another row does not open.
import { z } from "zod";

export const sealedHeadersSchema = z.object({ names: z.array(z.string()), iv: z.string(), sealed: z.string() });
export type SealedHeaders = z.infer<typeof sealedHeadersSchema>;

/** MCP_HEADER_KEY cannot be used: the deployment's configuration, never the request's fault. */
export class HeaderKeyError extends Error {
  override name = "HeaderKeyError";
}

export class HeaderKeyMissingError extends HeaderKeyError {
  override name = "HeaderKeyMissingError";
  constructor() {
    super("MCP_HEADER_KEY is not set, so headers for MCP servers cannot be stored; set it with `wrangler secret put MCP_HEADER_KEY`.");
  }
}

export class HeaderKeyInvalidError extends HeaderKeyError {
  override name = "HeaderKeyInvalidError";
}

const INVALID_KEY = "MCP_HEADER_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32); set it again with `wrangler secret put MCP_HEADER_KEY`.";

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

const keys = new Map<string, Promise<CryptoKey>>();

function key(env: Env): Promise<CryptoKey> {
  const raw = env.MCP_HEADER_KEY?.trim();
  if (!raw) throw new HeaderKeyMissingError();
  let imported = keys.get(raw);
  if (!imported) {
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(raw);
    } catch {
      throw new HeaderKeyInvalidError(INVALID_KEY);
    }
    if (bytes.length !== 32) throw new HeaderKeyInvalidError(INVALID_KEY);
    imported = crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
    keys.set(raw, imported);
  }
  return imported;
}

const additionalData = (tenant: string, server: string) => new TextEncoder().encode(`mcp-headers:${tenant}:${server}`);

export async function sealHeaders(env: Env, tenant: string, server: string, headers: Record<string, string>): Promise<SealedHeaders> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = new TextEncoder().encode(JSON.stringify(headers));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: additionalData(tenant, server) }, await key(env), plaintext);
  return { names: Object.keys(headers), iv: toBase64(iv), sealed: toBase64(new Uint8Array(sealed)) };
}

export async function openHeaders(env: Env, tenant: string, server: string, sealed: SealedHeaders): Promise<Record<string, string>> {
  const k = await key(env);
  let plaintext: ArrayBuffer;
  try {
    plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64(sealed.iv), additionalData: additionalData(tenant, server) },
      k,
      fromBase64(sealed.sealed),
    );
  } catch {
    // Sealed under another key: MCP_HEADER_KEY was changed since the server was registered.
    throw new HeaderKeyInvalidError(
      `The headers of the MCP server "${server}" cannot be opened with the current MCP_HEADER_KEY (was it changed?); register the server again.`,
    );
  }
  return z.record(z.string(), z.string()).parse(JSON.parse(new TextDecoder().decode(plaintext)));
}
