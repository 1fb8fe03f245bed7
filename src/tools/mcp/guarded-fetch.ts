// The fetch the MCP transports use: Http.get's address rules on the server's URL and on every
// redirect it answers with. A private, loopback, link-local or metadata address is refused unless
// HTTP_TOOL_ALLOWLIST lists that exact host:port; public hosts need no listing (a tenant registers
// a server on purpose, unlike a URL a prompt made up). Redirects are followed by hand so every hop
// is checked.
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

export function guardedFetch(env: Env): typeof fetch {
  return async (input, init) => {
    const first = new Request(input, init);
    // Read once, so a 307/308 can send the same JSON-RPC message to the next hop.
    const body = first.body ? await first.arrayBuffer() : undefined;
    let url = new URL(first.url);
    let method = first.method;
    for (let hop = 0; ; hop++) {
      checkAddress(url, env, hop > 0);
      const res = await fetch(url, {
        method,
        headers: first.headers,
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
