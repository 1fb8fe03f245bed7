#!/usr/bin/env node
// `npx crane` runs the TypeScript CLI directly: Node 22 strips its types (no build step).
import "../cli/main.ts";
