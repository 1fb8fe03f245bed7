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
      if (at <= 0 || entry.endsWith("]")) return { host: entry, port: "*" };
      return { host: entry.slice(0, at), port: entry.slice(at + 1) || "*" };
    });
}

export function effectivePort(url: URL): string {
  return url.port || (url.protocol === "https:" ? "443" : "80");
}

export function isAllowed(url: URL, rules: AllowRule[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = effectivePort(url);
  return rules.some((r) => r.host === host && (r.port === "*" || r.port === port));
}
