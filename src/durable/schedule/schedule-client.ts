// The one typed client of a schedule object (see run-client.ts for why RPC stubs need one): the
// object's own signatures restated once, checked against the class.
import type { ScheduleObject, ScheduleSpec, TriggerResult } from "./schedule-object";
import type { ScheduleResource } from "./schedule-resource";

export interface ScheduleClient {
  create(input: { schedule_id: string; tenant: string; spec: ScheduleSpec }): Promise<ScheduleResource>;
  get(tenant: string): Promise<ScheduleResource | null>;
  update(tenant: string, changes: Partial<ScheduleSpec>): Promise<ScheduleResource | null>;
  remove(tenant: string): Promise<boolean>;
  trigger(tenant: string): Promise<TriggerResult>;
}

type Own<K extends keyof ScheduleObject> = ScheduleObject[K];
const same = <K extends keyof ScheduleClient & keyof ScheduleObject>(_k: K, _check: Own<K> extends ScheduleClient[K] ? true : never) => {};
same("create", true);
same("get", true);
same("update", true);
same("remove", true);
same("trigger", true);

export function scheduleClient(env: Env, scheduleId: string): ScheduleClient {
  return env.SCHEDULES.getByName(scheduleId) as unknown as ScheduleClient;
}
