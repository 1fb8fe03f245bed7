// The "llm-budget" test project's Worker: the LlmBudget object and its admin route, nothing else.
import { adminLlmBudgetApi } from "../../src/api/admin-llm-budget";

export { LlmBudget } from "../../src/durable/llm-budget/llm-budget";

export default { fetch: adminLlmBudgetApi.fetch } satisfies ExportedHandler<Env>;
