import { expect, inject } from "vitest";
import { REPORT_PATH, type ConformanceReport } from "./conformance-proxy.ts";

/**
 * Every API answer the suite's clients got so far conformed to the OpenAPI document, and there
 * were at least `atLeast` of them (so a proxy that checks nothing cannot pass).
 */
export async function expectConformingTraffic(atLeast: number): Promise<void> {
  const report = (await (await fetch(`${inject("craneUrl")}${REPORT_PATH}`)).json()) as ConformanceReport;
  expect(report.violations).toEqual([]);
  expect(report.checked.length).toBeGreaterThanOrEqual(atLeast);
}
