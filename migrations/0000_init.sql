CREATE TABLE `runs` (
	`run_id` text PRIMARY KEY NOT NULL,
	`prompt` text,
	`status` text NOT NULL,
	`planner` text NOT NULL,
	`step_count` integer NOT NULL,
	`result` text,
	`error_code` text,
	`error_message` text,
	`created_at` text NOT NULL,
	`started_at` text,
	`completed_at` text,
	`projected_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `runs_created_idx` ON `runs` (`created_at`,`run_id`);--> statement-breakpoint
CREATE INDEX `runs_status_created_idx` ON `runs` (`status`,`created_at`,`run_id`);--> statement-breakpoint
CREATE TABLE `steps` (
	`run_id` text NOT NULL,
	`step_number` integer NOT NULL,
	`tool` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer NOT NULL,
	`error_code` text,
	`started_at` text,
	`completed_at` text,
	`duration_ms` integer,
	`projected_seq` integer NOT NULL,
	PRIMARY KEY(`run_id`, `step_number`)
);
--> statement-breakpoint
CREATE INDEX `steps_tool_idx` ON `steps` (`tool`,`status`);--> statement-breakpoint
CREATE TABLE `todos` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`title` text NOT NULL,
	`status` text DEFAULT 'open' NOT NULL,
	`created_at` text NOT NULL,
	`completed_at` text,
	`deleted_at` text,
	`created_by` text,
	`completed_by` text,
	`deleted_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `todos_created_by_unique` ON `todos` (`created_by`);--> statement-breakpoint
CREATE INDEX `todos_status_idx` ON `todos` (`status`,`id`);