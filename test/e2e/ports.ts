// The end-to-end suite's ports: base (wrangler dev), base + 1 (the conformance proxy), base + 2
// (the restart test's own runtime), base + 3 (the `crane run` restart test's own runtime).
// CRANE_E2E_PORT_BASE moves them, so two checkouts on one machine can run the suite at once.
export function e2ePortBase(): number {
  const base = Number(process.env.CRANE_E2E_PORT_BASE ?? 8795);
  if (!Number.isInteger(base) || base < 1024 || base > 65_000)
    throw new Error(`CRANE_E2E_PORT_BASE must be a port number, not ${process.env.CRANE_E2E_PORT_BASE}`);
  return base;
}
