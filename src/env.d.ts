// Bindings `wrangler types` cannot see: the LLM key is a secret (`wrangler secret put LLM_API_KEY`,
// or .dev.vars locally), and the Workers AI binding is opt-in (add `[ai] binding = "AI"` to use it;
// it needs a Cloudflare account even under `wrangler dev`, so the offline default leaves it out).
// MCP_HEADER_KEY is a secret too (`wrangler secret put MCP_HEADER_KEY`: 32 random bytes, base64):
// it seals the headers registered with an MCP server. Unset, servers that need headers cannot be added.
interface Env {
  LLM_API_KEY?: string;
  MCP_HEADER_KEY?: string;
  AI?: Ai;
  /** The OTLP collector's headers (a secret: `name=value,…`), e.g. its API key. */
  OTEL_EXPORTER_OTLP_HEADERS?: string;
}
