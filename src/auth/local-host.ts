// Whether a request reached Crane as local development does: on a loopback address, or on a
// name under a special-use domain that public DNS never resolves (`localhost`, `.localhost`,
// `.test`; RFC 6761). DEV_API_KEY is honoured only then.
//
// Why the host, and not a variable: a variable that marks "local" can be deployed by mistake as
// easily as DEV_API_KEY itself. The host of a request at Cloudflare's edge is one of the Worker's
// own routes (a zone's hostname or workers.dev); the edge picks the Worker by that name, so a
// client cannot reach a deployed Worker with a Host of `localhost` or `crane.test`. `wrangler dev`
// serves on 127.0.0.1 or localhost, and the tests call `http://crane.test`. What this does not
// cover: a self-hosted workerd behind a proxy that passes the client's Host through; such a
// deployment must not set DEV_API_KEY at all.
const LOOPBACK_V4 = /^127(?:\.\d{1,3}){3}$/;

export function isLocalHost(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host === "[::1]" || LOOPBACK_V4.test(host)) return true;
  return host === "localhost" || host.endsWith(".localhost") || host.endsWith(".test");
}
