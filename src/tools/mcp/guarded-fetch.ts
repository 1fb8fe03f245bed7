// The fetch the MCP transports use: Http.get's address rules on the server's URL and on every
// redirect it answers with. A private, loopback, link-local or metadata address is refused unless
// HTTP_TOOL_ALLOWLIST lists that exact host:port; public hosts need no listing (a tenant registers
// a server on purpose, unlike a URL a prompt made up). Redirects are followed by hand so every hop
// is checked.
//
// The headers a tenant registered with a server (a token, an API key) are for that server's
// origin only. Once a redirect leaves the origin (another host, port or scheme, so an http to
// https upgrade too), they are dropped for that hop and every later one, with Authorization,
// Cookie and Proxy-Authorization whatever was registered: what browsers' fetch does with
// Authorization, applied to every secret the tenant gave us. The server at the new origin gets
// the protocol's own headers only; if it needs credentials it answers 401, which says so.
import { effectivePort, isAllowed, parseAllowlist } from "../http-get/allowlist";
import { nonPublicAddress } from "../http-get/private-address";

const MAX_REDIRECTS = 5;

/** A URL the address rules refuse; its message says why and how to allow it. */
export class AddressRefusedError extends Error {
  override name = "AddressRefusedError";
}

export function checkAddress(url: URL, env: Env, redirected = false): void {
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new AddressRefusedError(`${url.protocol} is not http or https.`);
  const nonPublic = nonPublicAddress(url.hostname);
  if (nonPublic && !isAllowed(url, parseAllowlist(env.HTTP_TOOL_ALLOWLIST))) {
    const article = /^[aeiou]/i.test(nonPublic) ? "an" : "a";
    throw new AddressRefusedError(
      `${url.hostname}:${effectivePort(url)} is ${article} ${nonPublic} address; MCP servers there are reached only when HTTP_TOOL_ALLOWLIST lists it${redirected ? " (reached by a redirect)" : ""}.`,
    );
  }
}

/** Headers never carried to another origin, registered or not. */
const ALWAYS_SECRET = ["authorization", "cookie", "proxy-authorization"];

/** `secretHeaders`: the names of the headers registered with the server, dropped across origins. */
export function guardedFetch(env: Env, secretHeaders: readonly string[] = []): typeof fetch {
  const secret = new Set([...ALWAYS_SECRET, ...secretHeaders.map((h) => h.toLowerCase())]);
  return async (input, init) => {
    const first = new Request(input, init);
    // Read once, so a 307/308 can send the same JSON-RPC message to the next hop.
    const body = first.body ? await first.arrayBuffer() : undefined;
    let url = new URL(first.url);
    let method = first.method;
    const origin = url.origin;
    let headers = new Headers(first.headers);
    for (let hop = 0; ; hop++) {
      checkAddress(url, env, hop > 0);
      if (url.origin !== origin && [...headers.keys()].some((h) => secret.has(h))) {
        headers = new Headers([...headers].filter(([name]) => !secret.has(name.toLowerCase())));
      }
      const res = await fetch(url, {
        method,
        headers,
        body: method === "GET" || method === "HEAD" ? undefined : body,
        signal: first.signal,
        redirect: "manual",
      });
      const location = res.headers.get("location");
      if (res.status < 300 || res.status >= 400 || !location) return res;
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new AddressRefusedError(`More than ${MAX_REDIRECTS} redirects from ${first.url}.`);
      // 307/308 keep the method and body; the others turn into a GET.
      if (res.status !== 307 && res.status !== 308) method = "GET";
      url = new URL(location, url);
    }
  };
}
