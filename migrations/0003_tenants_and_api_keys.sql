CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`tenant` text NOT NULL,
	`hash` text NOT NULL,
	`prefix` text NOT NULL,
	`created_at` text NOT NULL,
	`revoked_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_unique` ON `api_keys` (`hash`);--> statement-breakpoint
CREATE INDEX `api_keys_tenant_idx` ON `api_keys` (`tenant`,`created_at`);--> statement-breakpoint
DROP INDEX `runs_created_idx`;--> statement-breakpoint
DROP INDEX `runs_status_created_idx`;--> statement-breakpoint
ALTER TABLE `runs` ADD `tenant` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX `runs_tenant_created_idx` ON `runs` (`tenant`,`created_at`,`run_id`);--> statement-breakpoint
CREATE INDEX `runs_tenant_status_created_idx` ON `runs` (`tenant`,`status`,`created_at`,`run_id`);--> statement-breakpoint
DROP INDEX `todos_status_idx`;--> statement-breakpoint
ALTER TABLE `todos` ADD `tenant` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX `todos_tenant_status_idx` ON `todos` (`tenant`,`status`,`id`);