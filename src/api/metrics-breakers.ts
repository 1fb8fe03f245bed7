// The breakers' part of GET /metrics. Each breaker writes its state to D1's breaker_states when it
// makes a transition, so a scrape reads them all in one query and sends no request to any breaker:
// its cost does not grow with tenants × tools. A breaker that never made a transition has no row
// and is closed, with every transition count at zero.
import type { PublishedBreaker } from "../durable/breaker/breaker-record";
import type { BreakerStateName } from "../durable/breaker/breaker-state";
import type { Exposition } from "./metrics-exposition";

const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

export interface BreakerSeries {
  tenant: string;
  tool: string;
}

interface BreakerSample extends BreakerSeries {
  state: BreakerStateName;
  transitions: Record<BreakerStateName, number>;
}

const key = (tenant: string, tool: string) => `${tenant}\u0000${tool}`;

/**
 * The breakers a scrape shows, from breaker_states' rows: every series asked for (a queue tool a
 * tenant's ended runs used, a registered MCP server), closed with no transitions unless it has a
 * row; and any other breaker that has a row and still exists (`exists`: its tool still has a
 * breaker for that tenant), so a breaker that opened before any of the tenant's runs ended shows
 * at once. Sorted by tenant and tool.
 */
export function breakerSamples(rows: PublishedBreaker[], series: BreakerSeries[], exists: (tenant: string, tool: string) => boolean): BreakerSample[] {
  const out = new Map<string, BreakerSample>();
  for (const { tenant, tool } of series) out.set(key(tenant, tool), { tenant, tool, state: "closed", transitions: { closed: 0, open: 0, half_open: 0 } });
  for (const r of rows) {
    if (!out.has(key(r.tenant, r.tool)) && !exists(r.tenant, r.tool)) continue;
    out.set(key(r.tenant, r.tool), {
      tenant: r.tenant,
      tool: r.tool,
      state: r.state,
      transitions: { closed: r.to_closed, open: r.to_open, half_open: r.to_half_open },
    });
  }
  return [...out.values()].sort((a, b) => (a.tenant === b.tenant ? a.tool.localeCompare(b.tool) : a.tenant.localeCompare(b.tenant)));
}

/** crane_breaker_state and crane_breaker_transitions_total. */
export function breakerFamilies(m: Exposition, breakers: BreakerSample[]): void {
  m.family("crane_breaker_state", "gauge", "Circuit breaker state by tenant and tool (mcp.<server> for an MCP server's): 0 closed, 1 half-open, 2 open.");
  for (const b of breakers) m.sample("crane_breaker_state", { tenant: b.tenant, tool: b.tool }, BREAKER_STATE[b.state]);
  m.family("crane_breaker_transitions_total", "counter", "Circuit breaker transitions by tenant, tool and the state entered.");
  for (const b of breakers)
    for (const to of Object.keys(BREAKER_STATE) as BreakerStateName[])
      m.sample("crane_breaker_transitions_total", { tenant: b.tenant, tool: b.tool, to }, b.transitions[to]);
}
