CREATE TABLE `tenant_settings` (
	`tenant` text PRIMARY KEY NOT NULL,
	`run_retention_days` integer NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `runs` ADD `expires_at` text;--> statement-breakpoint
CREATE INDEX `runs_expires_idx` ON `runs` (`expires_at`) WHERE "runs"."expires_at" IS NOT NULL;