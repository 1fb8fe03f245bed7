import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEV_KEY, errorOf } from "./helpers";

/** GET /api/v1/tools with the dev key, as a request to `origin`. */
const withDevKey = (origin: string) => exports.default.fetch(new Request(`${origin}/api/v1/tools`, { headers: { authorization: `Bearer ${DEV_KEY}` } }));

describe("DEV_API_KEY outside local development", () => {
  it("is refused on any host a deployed Worker can be reached at, with a 401 that says why", async () => {
    for (const origin of ["https://crane.example.com", "https://crane.acme.workers.dev", "https://localhost.evil.example", "https://crane.test.evil.example"]) {
      const res = await withDevKey(origin);
      expect(res.status, origin).toBe(401);
      expect((await errorOf(res)).code, origin).toBe("dev_key_not_local");
    }
  });

  it("is accepted on loopback and local-only names (wrangler dev, the tests)", async () => {
    for (const origin of ["http://localhost:8787", "http://127.0.0.1:8787", "http://[::1]:8787", "http://crane.localhost", "http://crane.test"]) {
      const res = await withDevKey(origin);
      expect(res.status, origin).toBe(200);
      await res.body?.cancel();
    }
  });
});
