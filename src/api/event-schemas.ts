// A run's events as the API serves them (GET /runs/{id}/events, /ws, /stream): one schema per
// event type, discriminated by `type`, so a typed client can narrow on it. The data schemas are the
// run's own (src/durable/run/domain/events.ts): the log, its types and this document share one
// definition, so they cannot disagree.
import { z } from "@hono/zod-openapi";
import { EVENT_DATA, RUN_EVENT_TYPES, type RunEvent, type RunEventType } from "../durable/run/domain/events";

/** `run.created` → component `RunCreatedEvent`. */
const componentName = (type: string) => `${type.replace(/(^|[._])(\w)/g, (_m, _s, c: string) => c.toUpperCase())}Event`;

function eventSchema<T extends RunEventType>(type: T) {
  return z
    .object({ seq: z.number().int().min(1), type: z.literal(type), at: z.string().openapi({ format: "date-time" }), data: EVENT_DATA[type] })
    .openapi(componentName(type));
}

const [first, ...rest] = RUN_EVENT_TYPES.map(eventSchema);
export const eventSchemaUnion = z.discriminatedUnion("type", [first!, ...rest]).openapi("Event");

export const eventPageSchema = z
  .object({
    run_id: z.string(),
    events: z.array(eventSchemaUnion),
    next_after: z.number().int().describe("Pass it back as `after` for the next page"),
    has_more: z.boolean(),
  })
  .openapi("EventPage");

/** Each event type with its own data: what the log holds, as a union a client can narrow. */
export type ApiEvent = { [T in RunEventType]: RunEvent<T> }[RunEventType];
