import { describe, expect, inject, it } from "vitest";
import { httpGetImpl } from "../src/tools/http-get/execute";
import { toolContext } from "./helpers";

const upstream = inject("upstreamUrl");
const ctx = (envOverrides: Partial<Env> = {}) => toolContext({ envOverrides });

const hits = async (path: string) => ((await (await fetch(`${upstream}/hits${path}`)).json()) as { hits: number }).hits;

describe("Http.get against a real local upstream", () => {
  it("returns status, content type and the parsed JSON body", async () => {
    const r = await httpGetImpl.execute({ url: `${upstream}/ok` }, ctx());
    expect(r.success).toBe(true);
    expect(r.output).toMatchObject({ status: 200, content_type: expect.stringContaining("json"), body: { ok: true, path: "/ok" } });
  });

  it("refuses a public host that is not in the allowlist", async () => {
    const r = await httpGetImpl.execute({ url: "https://example.com/" }, ctx({ HTTP_TOOL_ALLOWLIST: "api.example.com:443" }));
    expect(r.success).toBe(false);
    expect(r.error).toMatchObject({ code: "host_not_allowed", retryable: false });
    expect(r.error?.message).toContain("HTTP_TOOL_ALLOWLIST");
  });

  it("refuses a loopback address that is not listed exactly, without calling it", async () => {
    const key = `/flaky/deny-${crypto.randomUUID()}`;
    const r = await httpGetImpl.execute({ url: `${upstream}${key}` }, ctx({ HTTP_TOOL_ALLOWLIST: "api.example.com:443" }));
    expect(r.error).toMatchObject({ code: "address_not_allowed", retryable: false });
    expect(r.error?.message).toContain("loopback");
    expect(await hits(key)).toBe(0);
  });

  it("reaches nothing when the allowlist is empty (the deployed default)", async () => {
    const r = await httpGetImpl.execute({ url: `${upstream}/ok` }, ctx({ HTTP_TOOL_ALLOWLIST: "" }));
    expect(r.error?.code).toBe("address_not_allowed");
    expect((await httpGetImpl.execute({ url: "https://example.com/" }, ctx({ HTTP_TOOL_ALLOWLIST: "" }))).error?.code).toBe("host_not_allowed");
  });

  it("refuses loopback addresses other than the listed one, and metadata and private addresses", async () => {
    const port = new URL(upstream).port;
    const key = `/flaky/spelled-${crypto.randomUUID()}`;
    // Other loopback addresses and names are other hosts; only the exact listed one is reachable.
    for (const url of [
      `http://[::ffff:127.0.0.1]:${port}${key}`,
      `http://[::1]:${port}${key}`,
      `http://localhost.:${port}${key}`,
      `http://127.0.0.2:${port}${key}`,
    ]) {
      const r = await httpGetImpl.execute({ url }, ctx({ HTTP_TOOL_ALLOWLIST: `127.0.0.1:${port}` }));
      expect(r.error?.code, url).toBe("address_not_allowed");
    }
    expect(await hits(key)).toBe(0);
    for (const url of [
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
      "http://192.168.1.1/",
      "http://[fd00::1]/",
      "http://metadata.google.internal/",
    ]) {
      const r = await httpGetImpl.execute({ url }, ctx());
      expect(r.error?.code, url).toBe("address_not_allowed");
    }
    // The URL parser turns 2130706433 and 0x7f.1 into 127.0.0.1 before any check, so they are the
    // listed address itself, and reachable: the allowlist is the operator's word.
    expect((await httpGetImpl.execute({ url: `http://2130706433:${port}/ok` }, ctx({ HTTP_TOOL_ALLOWLIST: `127.0.0.1:${port}` }))).success).toBe(true);
    expect((await httpGetImpl.execute({ url: `http://0x7f.1:${port}/ok` }, ctx({ HTTP_TOOL_ALLOWLIST: "api.example.com:443" }))).error?.code).toBe(
      "address_not_allowed",
    );
  });

  it("refuses spellings of loopback that are not the listed form, and says why", async () => {
    const port = new URL(upstream).port;
    const key = `/flaky/odd-${crypto.randomUUID()}`;
    // Only localhost is listed: 2130706433 is 127.0.0.1 once parsed, which is not.
    const decimal = await httpGetImpl.execute({ url: `http://2130706433:${port}${key}` }, ctx({ HTTP_TOOL_ALLOWLIST: `localhost:${port}` }));
    expect(decimal.error).toMatchObject({ code: "address_not_allowed", retryable: false });
    expect(decimal.error?.message).toBe(`127.0.0.1:${port} is a loopback address; Http.get only reaches it when HTTP_TOOL_ALLOWLIST lists it.`);
    const mapped = await httpGetImpl.execute({ url: `http://[::ffff:127.0.0.1]:${port}${key}` }, ctx({ HTTP_TOOL_ALLOWLIST: `127.0.0.1:${port}` }));
    expect(mapped.error).toMatchObject({ code: "address_not_allowed", retryable: false });
    expect(mapped.error?.message).toContain("[::ffff:7f00:1]");
    expect(mapped.error?.message).toContain("an IPv4-mapped loopback address");
    expect(await hits(key)).toBe(0);
  });

  it("refuses the metadata address even on a port an entry allows for another host", async () => {
    const r = await httpGetImpl.execute({ url: "http://169.254.169.254/latest/meta-data/" }, ctx({ HTTP_TOOL_ALLOWLIST: "api.example.com:80" }));
    expect(r.error).toMatchObject({ code: "address_not_allowed", retryable: false });
    expect(r.error?.message).toContain("cloud metadata");
  });

  it("matches the port of an allowlist entry", async () => {
    const port = new URL(upstream).port;
    expect((await httpGetImpl.execute({ url: `${upstream}/ok` }, ctx({ HTTP_TOOL_ALLOWLIST: `127.0.0.1:${port}` }))).success).toBe(true);
    expect((await httpGetImpl.execute({ url: `${upstream}/ok` }, ctx({ HTTP_TOOL_ALLOWLIST: `127.0.0.1:1` }))).error?.code).toBe("address_not_allowed");
  });

  it("follows a redirect within the allowlist but not one that leaves it", async () => {
    const inside = await httpGetImpl.execute({ url: `${upstream}/redirect?to=${encodeURIComponent(`${upstream}/ok`)}` }, ctx());
    expect(inside.success).toBe(true);
    const outside = await httpGetImpl.execute({ url: `${upstream}/redirect?to=${encodeURIComponent("http://169.254.169.254/latest")}` }, ctx());
    expect(outside.error?.code).toBe("address_not_allowed");
    expect(outside.error?.message).toContain("cloud metadata");
    expect(outside.error?.message).toContain("redirect");
    const privateHop = await httpGetImpl.execute({ url: `${upstream}/redirect?to=${encodeURIComponent("http://10.1.2.3:8080/admin")}` }, ctx());
    expect(privateHop.error).toMatchObject({ code: "address_not_allowed", retryable: false });
    expect(privateHop.error?.message).toBe(
      "10.1.2.3:8080 is a private address; Http.get only reaches it when HTTP_TOOL_ALLOWLIST lists it (reached by a redirect).",
    );
    const publicHost = await httpGetImpl.execute({ url: `${upstream}/redirect?to=${encodeURIComponent("https://example.com/")}` }, ctx());
    expect(publicHost.error?.code).toBe("host_not_allowed");
    expect(publicHost.error?.message).toContain("redirect");
  });

  it("reads allowlist entries the way URLs are read, so any spelling of an address matches it", async () => {
    const port = new URL(upstream).port;
    expect((await httpGetImpl.execute({ url: `http://127.0.0.1:${port}/ok` }, ctx({ HTTP_TOOL_ALLOWLIST: `2130706433:${port}` }))).success).toBe(true);
    const mapped = await httpGetImpl.execute({ url: `http://[::ffff:127.0.0.1]:${port}/ok` }, ctx({ HTTP_TOOL_ALLOWLIST: `[::ffff:127.0.0.1]:${port}` }));
    // Listed (in its parsed spelling), so neither refusal applies, whatever the connection then does.
    expect(mapped.error?.code).not.toBe("address_not_allowed");
    expect(mapped.error?.code).not.toBe("host_not_allowed");
  });

  it("caps the response size", async () => {
    const r = await httpGetImpl.execute({ url: `${upstream}/big?bytes=${2 * 1024 * 1024}` }, ctx());
    expect(r.error).toMatchObject({ code: "response_too_large", retryable: false });
    const small = await httpGetImpl.execute({ url: `${upstream}/big?bytes=1000` }, ctx());
    expect((small.output as { body: string }).body).toHaveLength(1000);
  });

  it("treats 5xx and 429 as retryable, 4xx as not, and carries Retry-After", async () => {
    expect((await httpGetImpl.execute({ url: `${upstream}/status/503` }, ctx())).error).toMatchObject({ code: "upstream_error", retryable: true });
    expect((await httpGetImpl.execute({ url: `${upstream}/status/429` }, ctx())).error).toMatchObject({
      code: "upstream_rate_limited",
      retryable: true,
      retry_after_ms: 0,
    });
    expect((await httpGetImpl.execute({ url: `${upstream}/status/404` }, ctx())).error).toMatchObject({ code: "upstream_rejected", retryable: false });
    const key = `/flaky/ra-${crypto.randomUUID()}`;
    expect((await httpGetImpl.execute({ url: `${upstream}${key}?fail=5&retry_after=7` }, ctx())).error?.retry_after_ms).toBe(7000);
  });

  it("gives up when the abort signal fires (the step timeout)", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const r = await httpGetImpl.execute({ url: `${upstream}/ok?delay_ms=5000` }, { ...ctx(), signal: controller.signal });
    expect(r.error).toMatchObject({ code: "upstream_timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("reports an unreachable upstream as retryable", async () => {
    const r = await httpGetImpl.execute({ url: "http://127.0.0.1:9/" }, ctx());
    expect(r.error).toMatchObject({ code: "upstream_unreachable", retryable: true });
  });

  it("validates its input", () => {
    expect(httpGetImpl.input_schema.safeParse({ url: "ftp://x/" }).success).toBe(false);
    expect(httpGetImpl.input_schema.safeParse({ url: "not a url" }).success).toBe(false);
    expect(httpGetImpl.input_schema.safeParse({ url: "http://x/", extra: 1 }).success).toBe(false);
  });
});
