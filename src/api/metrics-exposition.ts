// The Prometheus text exposition format (version 0.0.4), written family by family.

export const PROMETHEUS_TEXT = "text/plain; version=0.0.4";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labels = (l: Record<string, string>) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
};

/** One histogram series from stored buckets: the count of observations at each bound (not cumulative) and their sum. */
export interface StoredHistogram {
  labels: Record<string, string>;
  counts: Map<string, number>;
  sum: number;
}

export class Exposition {
  private lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, l: Record<string, string>, value: number): void {
    this.lines.push(`${name}${labels(l)} ${value}`);
  }

  /** Cumulative buckets at every bound, then +Inf, sum and count. */
  histogram(name: string, bounds: readonly number[], h: StoredHistogram): void {
    let seen = 0;
    for (const b of bounds) {
      seen += h.counts.get(String(b)) ?? 0;
      this.sample(`${name}_bucket`, { ...h.labels, le: String(b) }, seen);
    }
    const count = seen + (h.counts.get("+Inf") ?? 0);
    this.sample(`${name}_bucket`, { ...h.labels, le: "+Inf" }, count);
    this.sample(`${name}_sum`, h.labels, Number(h.sum.toFixed(6)));
    this.sample(`${name}_count`, h.labels, count);
  }

  toString(): string {
    return `${this.lines.join("\n")}\n`;
  }
}
