/**
 * Lines at the bottom of a terminal that are rewritten in place (on a TTY only). Permanent lines
 * go above them: each paint moves the cursor back to the top of the live lines, clears to the end
 * of the screen, prints the new permanent lines and draws the live lines again. Nothing is written
 * here: `paint` returns the bytes, so the output can be checked without a terminal.
 */
const ESC = "\x1b[";
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Terminal rows a line takes: a line wider than the terminal wraps. */
function rowsOf(line: string, columns: number | undefined): number {
  const width = [...line.replace(ANSI, "")].length;
  return columns && columns > 0 ? Math.max(1, Math.ceil(width / columns)) : 1;
}

export class LiveRegion {
  private readonly lines = new Map<string | number, string>();
  private rows = 0;
  private readonly columns: number | undefined;
  constructor(columns?: number) {
    this.columns = columns;
  }

  has(key: string | number): boolean {
    return this.lines.has(key);
  }

  keys(): (string | number)[] {
    return [...this.lines.keys()];
  }

  set(key: string | number, text: string): void {
    this.lines.set(key, text);
  }

  delete(key: string | number): void {
    this.lines.delete(key);
  }

  /** The bytes that print `permanent` above the live lines and redraw them below. */
  paint(permanent: readonly string[] = []): string {
    let out = this.rows > 0 ? `${ESC}${this.rows}A\r${ESC}J` : "";
    for (const line of permanent) out += `${line}\n`;
    this.rows = 0;
    for (const line of this.lines.values()) {
      out += `${line}\n`;
      this.rows += rowsOf(line, this.columns);
    }
    return out;
  }
}
