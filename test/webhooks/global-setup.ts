import type { TestProject } from "vitest/node";
import { receiverUrl, startReceiver } from "./receiver";

/** Starts the local webhook receiver once for the whole test run and tells the tests its URL. */
export default async function setup(project: TestProject) {
  const server = await startReceiver();
  project.provide("receiverUrl", receiverUrl(server));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
