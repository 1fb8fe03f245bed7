// Circuit-breaker settings, per tool. BREAKER_CONFIG (a var) is JSON: `{ "*": {...}, "Http.get": {...} }`,
// each entry overriding the defaults below for all tools ("*") or one tool.
import { z } from "zod";
import { log } from "../../lib/log";

export const breakerSettingsSchema = z.strictObject({
  failure_threshold: z.number().int().min(1).max(1000),
  window_ms: z.number().int().min(1000).max(3_600_000),
  window_min_calls: z.number().int().min(1).max(10_000),
  window_failure_rate: z.number().min(0.01).max(1),
  cooldown_ms: z.number().int().min(100).max(3_600_000),
  max_cooldown_ms: z.number().int().min(100).max(86_400_000),
  half_open_probes: z.number().int().min(1).max(100),
  /** Between two batches of waiting runs told of a close (tool-breaker.ts's WAKE_BATCH per alarm). */
  wake_interval_ms: z.number().int().min(0).max(3_600_000),
});
export type BreakerSettings = z.infer<typeof breakerSettingsSchema>;

export const DEFAULT_BREAKER: BreakerSettings = {
  failure_threshold: 5,
  window_ms: 60_000,
  window_min_calls: 10,
  window_failure_rate: 0.5,
  cooldown_ms: 30_000,
  max_cooldown_ms: 300_000,
  half_open_probes: 1,
  wake_interval_ms: 200,
};

const configSchema = z.record(z.string(), breakerSettingsSchema.partial());

export function breakerSettings(raw: string | undefined, tool: string): BreakerSettings {
  if (!raw?.trim()) return DEFAULT_BREAKER;
  let parsed: z.infer<typeof configSchema>;
  try {
    parsed = configSchema.parse(JSON.parse(raw));
  } catch (err) {
    // A broken config must not take tools down: fall back to the defaults, loudly.
    log.error("breaker.config_invalid", { error_message: (err as Error).message });
    return DEFAULT_BREAKER;
  }
  return { ...DEFAULT_BREAKER, ...parsed["*"], ...parsed[tool] };
}
