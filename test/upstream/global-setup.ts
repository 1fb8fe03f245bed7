import type { TestProject } from "vitest/node";
import { serverUrl, startUpstream } from "./server";

/** Starts the local upstream once for the whole test run and tells the tests its URL. */
export default async function setup(project: TestProject) {
  const server = await startUpstream();
  project.provide("upstreamUrl", serverUrl(server));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
