/**
 * The soak's runs at the byte limits, in 3-byte characters ("中"), so a limit counted in characters
 * instead of bytes would show: step outputs just under and just over the default max_output_bytes
 * (256 KiB; over it the run must fail with output_too_large, an expected ending), and step inputs
 * just under and just over the queue message's input limit (96 KiB; over it the input is left out
 * of the message and the consumer reads it from the run object). POST /runs takes at most 64 KiB,
 * so the big inputs are reached through a reference to an earlier step's output, as a real plan
 * would reach them. The inputs go to an MCP server's read-only echo (`lookup`), which says back
 * what it got, so the soak can check the whole input arrived.
 */
import { DEFAULT_OPTIONS } from "../src/execution/run-options.ts";

/** src/execution/step-protocol.ts's MAX_MESSAGE_INPUT_BYTES: that module's imports carry no file extension, so Node cannot load it here. */
const MAX_MESSAGE_INPUT_BYTES = 96 * 1024;
const CHAR = "中"; // three bytes in UTF-8, one UTF-16 code unit
const CHAR_BYTES = Buffer.byteLength(CHAR);
const OUTPUT_CAP = DEFAULT_OPTIONS.max_output_bytes;
/** Http.get's output around the body: {"status":200,"content_type":"text/plain","body":"…"}. */
const OUTPUT_FRAME = Buffer.byteLength(JSON.stringify({ status: 200, content_type: "text/plain", body: "" }));
/** The input around the text: {"text":"…"}. */
const INPUT_FRAME = Buffer.byteLength(JSON.stringify({ text: "" }));

export type LimitKind = "output_under" | "output_over" | "input_under" | "input_over";
export const LIMIT_KINDS: readonly LimitKind[] = ["output_under", "output_over", "input_under", "input_over"];

/** How many characters put the framed JSON `slack` bytes under the limit (negative: over it). */
const charsFor = (limit: number, frame: number, slack: number) => Math.floor((limit - frame - slack) / CHAR_BYTES);

export interface LimitRun {
  limit: LimitKind;
  key: string;
  title: string;
  body: string;
  /** Characters of "中" the big value carries. */
  chars: number;
}

export function limitRuns(perKind: number, upstreamUrl: string, lookupTool: string): LimitRun[] {
  const runs: LimitRun[] = [];
  for (let i = 0; i < perKind; i++) {
    // Spread a little, all within a few dozen bytes of the limit.
    const slack = 3 + (i % 4) * 6;
    for (const limit of LIMIT_KINDS) {
      const output = limit.startsWith("output");
      const under = limit.endsWith("under");
      const chars = output
        ? charsFor(OUTPUT_CAP, OUTPUT_FRAME, under ? slack : -slack)
        : charsFor(MAX_MESSAGE_INPUT_BYTES, INPUT_FRAME, under ? slack : -slack);
      const big = {
        step_number: 1,
        tool: "Http.get",
        input: { url: `${upstreamUrl}/big?bytes=${chars * CHAR_BYTES}&char=${encodeURIComponent(CHAR)}&${limit}=${i}` },
      };
      const steps = output ? [big] : [big, { step_number: 2, tool: lookupTool, input: { text: "{{steps.1.output.body}}" }, depends_on: [1] }];
      // A big output is still under the cap when it is only read (the input runs' step 1 is ~96 KiB).
      runs.push({
        limit,
        key: `soak-${limit}-${i}`,
        title: `soak ${limit} ${i}`,
        chars,
        body: JSON.stringify({ plan: { steps }, options: { retry: { max_attempts: 5, initial_delay_ms: 200 } } }),
      });
    }
  }
  return runs;
}

interface EndedRun {
  status: string;
  error: { code: string; message: string } | null;
  execution_log: { output: unknown }[];
}

/** Did the run end as its limit says it must? Returns the byte size it was measured at, or why not. */
export function checkLimitRun(run: LimitRun, ended: EndedRun): { ok: true; bytes: number } | { ok: false; why: string } {
  const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v ?? null));
  switch (run.limit) {
    case "output_under": {
      const out = ended.execution_log[0]?.output;
      const size = bytes(out);
      return ended.status === "completed" && size <= OUTPUT_CAP && size > OUTPUT_CAP - 64
        ? { ok: true, bytes: size }
        : { ok: false, why: `${ended.status}, output ${size} bytes` };
    }
    case "output_over": {
      // The error names the size the run object measured.
      const measured = Number(/returned (\d+) bytes/.exec(ended.error?.message ?? "")?.[1]);
      return ended.status === "failed" && ended.error?.code === "output_too_large" && measured > OUTPUT_CAP
        ? { ok: true, bytes: measured }
        : { ok: false, why: `${ended.status} ${ended.error?.code ?? ""} ${ended.error?.message ?? ""}` };
    }
    default: {
      // The echo says "found <text>": the whole input arrived when its length is the text's.
      const out = ended.execution_log[1]?.output as { type: string; text: string }[] | undefined;
      const text = out?.[0]?.text ?? "";
      const size = run.chars * CHAR_BYTES + INPUT_FRAME;
      const whole = text === `found ${CHAR.repeat(run.chars)}`;
      const side = run.limit === "input_under" ? size <= MAX_MESSAGE_INPUT_BYTES : size > MAX_MESSAGE_INPUT_BYTES;
      return ended.status === "completed" && whole && side
        ? { ok: true, bytes: size }
        : { ok: false, why: `${ended.status}, echo of ${text.length} characters` };
    }
  }
}

/** Per limit: how many runs ended as they must, and the nearest to the limit each side came (bytes). */
export function summarizeLimits(results: readonly { limit: LimitKind; check: ReturnType<typeof checkLimitRun> }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of LIMIT_KINDS) {
    const sizes = results.filter((r) => r.limit === k && r.check.ok).map((r) => (r.check as { bytes: number }).bytes);
    out[`${k}_as_expected`] = sizes.length;
    // Under: the largest seen; over: the smallest.
    out[`${k}_nearest_bytes`] = sizes.length === 0 ? NaN : k.endsWith("under") ? Math.max(...sizes) : Math.min(...sizes);
  }
  return out;
}
