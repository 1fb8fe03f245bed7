// Drives test/llm/scripted-model.ts over HTTP, from workerd tests (env.SCRIPTED_MODEL_URL) or Node.
// Kept apart from the server so a workerd test never imports node:http.
import type { RecordedRequest, ScriptedTurn } from "./scripted-model";

/** For tests: register a script and read its record over HTTP (works from workerd and from Node). */
export async function registerScript(baseUrl: string, key: string, turns: ScriptedTurn[]): Promise<void> {
  const res = await fetch(`${baseUrl}/scripts/${encodeURIComponent(key)}`, { method: "PUT", body: JSON.stringify({ turns }) });
  if (!res.ok) throw new Error(`registering script ${key}: ${res.status}`);
}

export interface ScriptRecord {
  calls: Record<string, number>;
  requests: RecordedRequest[];
  max_concurrency: number;
  in_flight: number;
}

export async function scriptRecord(baseUrl: string, key: string): Promise<ScriptRecord> {
  const res = await fetch(`${baseUrl}/scripts/${encodeURIComponent(key)}`);
  if (!res.ok) throw new Error(`reading script ${key}: ${res.status}`);
  return (await res.json()) as ScriptRecord;
}
