/**
 * npm run upstream [-- --port 8788]: the local HTTP upstream the tests use (slow, failing then
 * healthy, rate-limited, redirecting, huge), for trying Http.get and the breakers by hand.
 */
import { parseArgs } from "node:util";
import { serverUrl, startUpstream } from "../test/upstream/server.ts";

const { values } = parseArgs({ options: { port: { type: "string", default: "8788" } } });
const server = await startUpstream(Number(values.port));
console.log(`upstream listening on ${serverUrl(server)} (/ok?delay_ms=N, /flaky/KEY?fail=N, /status/S, /redirect?to=URL, /big?bytes=N, /hits/PATH)`);
