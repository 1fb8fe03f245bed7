import type { ChildProcess } from "node:child_process";

/**
 * The last 200 chunks a child process wrote (stdout and stderr, interleaved as they came), kept
 * so that a server that fails to come up can say why without filling memory over a long run.
 */
export function tailOutput(child: ChildProcess): string[] {
  const output: string[] = [];
  const keep = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return output;
}
