import { defineConfig } from "drizzle-kit";

// Flat migrations/NNNN_name.sql, which wrangler's `d1 migrations apply` and readD1Migrations read.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
