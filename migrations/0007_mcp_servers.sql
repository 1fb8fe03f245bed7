CREATE TABLE `mcp_servers` (
	`tenant` text NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`transport` text NOT NULL,
	`headers` text,
	`tools` text NOT NULL,
	`created_at` text NOT NULL,
	`refreshed_at` text NOT NULL,
	`last_error` text,
	PRIMARY KEY(`tenant`, `name`)
);
