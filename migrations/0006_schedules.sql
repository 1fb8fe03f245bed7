CREATE TABLE `schedules` (
	`schedule_id` text PRIMARY KEY NOT NULL,
	`tenant` text NOT NULL,
	`name` text,
	`cron` text NOT NULL,
	`timezone` text NOT NULL,
	`overlap` text NOT NULL,
	`paused` integer NOT NULL,
	`prompt` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `schedules_tenant_created_idx` ON `schedules` (`tenant`,`created_at`,`schedule_id`);--> statement-breakpoint
ALTER TABLE `runs` ADD `schedule_id` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `scheduled_for` text;