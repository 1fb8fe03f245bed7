ALTER TABLE `runs` ADD `tools` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `rerun_of` text;