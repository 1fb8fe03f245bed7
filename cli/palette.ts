/** Terminal colours, or none (a file, a pipe, NO_COLOR): every renderer takes one. */
export interface Palette {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
}

export function palette(enabled: boolean): Palette {
  const color = (code: number) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { green: color(32), red: color(31), yellow: color(33), dim: color(2) };
}
