// `npm run db:migrate:local`: every read-model shard's local D1 gets its migrations (scripts/d1-databases.ts).
import { migrateLocalDatabases } from "./d1-databases.ts";

migrateLocalDatabases();
