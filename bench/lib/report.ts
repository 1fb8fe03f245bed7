/** The markdown summary and a small SVG bar chart of the Crane/peer ratios. */
export interface Row {
  metric: string;
  values: Record<string, number | string>;
}

export function markdownTable(rows: Row[], systems: string[]): string {
  const head = `| metric | ${systems.join(" | ")} |\n|---|${systems.map(() => "---:").join("|")}|`;
  return [head, ...rows.map((r) => `| ${r.metric} | ${systems.map((s) => String(r.values[s] ?? "—")).join(" | ")} |`)].join("\n");
}

export function barChart(title: string, bars: { label: string; value: number; unit: string }[]): string {
  const width = 720;
  const barH = 26;
  const left = 300;
  const top = 40;
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const height = top + bars.length * (barH + 10) + 20;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const rows = bars
    .map((b, i) => {
      const y = top + i * (barH + 10);
      const w = Math.max(1, ((width - left - 90) * b.value) / max);
      return `<text x="${left - 8}" y="${y + 18}" text-anchor="end" font-size="13">${esc(b.label)}</text><rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="#f6821f"/><text x="${(left + w + 6).toFixed(1)}" y="${y + 18}" font-size="13">${b.value} ${esc(b.unit)}</text>`;
    })
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>\n${rows}\n</svg>\n`;
}
