import type { Principal } from "../auth/api-keys";

/** Hono's environment for every route: the Worker's bindings, and who the request acts for. */
export interface AppEnv {
  Bindings: Env;
  Variables: { principal: Principal };
}
