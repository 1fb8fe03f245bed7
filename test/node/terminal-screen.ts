// What a terminal shows after some bytes, for the CLI's rendering tests.

/** Enough of a terminal to see what is on screen: text, \n, \r, cursor up (A), clear to end (J). */
export function screen(bytes: string): string[] {
  const rows = [""];
  let row = 0;
  let col = 0;
  for (let i = 0; i < bytes.length;) {
    const esc = /^\x1b\[(\d*)([A-Za-z])/.exec(bytes.slice(i));
    if (esc) {
      if (esc[2] === "A") row = Math.max(0, row - Number(esc[1] || 1));
      if (esc[2] === "J") {
        rows[row] = rows[row]!.slice(0, col);
        rows.length = row + 1;
      }
      i += esc[0].length;
      continue;
    }
    const ch = bytes[i++]!;
    if (ch === "\r") col = 0;
    else if (ch === "\n") {
      row += 1;
      col = 0;
      rows[row] ??= "";
    } else {
      const line = rows[row]!.padEnd(col);
      rows[row] = line.slice(0, col) + ch + line.slice(col + 1);
      col += 1;
    }
  }
  return rows.filter((r, i) => i < rows.length - 1 || r !== "");
}
