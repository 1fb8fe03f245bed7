#!/usr/bin/env node
// `npx crane` runs the TypeScript CLI directly: Node 22.18+ strips its types unflagged (no build step). Under
// npx this is the project's own Node 22 (the `node` dev dependency puts it first on the PATH), so a
// machine with Node 20 runs it too; run by another Node (`node bin/crane.js` under Node 20), say so
// plainly instead of failing on TypeScript syntax.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `crane needs Node 22.18 or newer to run its TypeScript (this is Node ${process.versions.node}). Run it as \`npx crane\` from the project, which uses the project's Node 22, or put Node 22 on the PATH.`,
  );
  process.exit(2);
}
await import("../cli/main.ts");
