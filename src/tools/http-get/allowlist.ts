/**
 * HTTP_TOOL_ALLOWLIST: comma-separated `host:port` patterns, `*` meaning any port
 * (e.g. `127.0.0.1:*,api.example.com:443`). Empty means Http.get reaches nothing.
 */
export interface AllowRule {
  host: string;
  port: string; // a number as text, or "*"
}

export function parseAllowlist(raw: string | undefined): AllowRule[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .map((entry) => {
      // [::1]:8080 keeps its brackets; host:port splits on the last colon.
      const at = entry.lastIndexOf(":");
      if (at <= 0 || entry.endsWith("]")) return { host: canonicalHost(entry), port: "*" };
      return { host: canonicalHost(entry.slice(0, at)), port: entry.slice(at + 1) || "*" };
    });
}

/**
 * The host as the URL parser writes it, so an entry matches the URLs it is meant for whatever its
 * spelling: `[::ffff:127.0.0.1]` becomes `[::ffff:7f00:1]`, `2130706433` becomes `127.0.0.1`.
 */
function canonicalHost(host: string): string {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return host; // never matches a parsed URL's host, so it allows nothing
  }
}

export function effectivePort(url: URL): string {
  return url.port || (url.protocol === "https:" ? "443" : "80");
}

export function isAllowed(url: URL, rules: AllowRule[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = effectivePort(url);
  return rules.some((r) => r.host === host && (r.port === "*" || r.port === port));
}
