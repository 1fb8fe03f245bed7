CREATE TABLE `breaker_states` (
	`tenant` text NOT NULL,
	`tool` text NOT NULL,
	`state` text NOT NULL,
	`to_closed` integer NOT NULL,
	`to_open` integer NOT NULL,
	`to_half_open` integer NOT NULL,
	`version` integer NOT NULL,
	`changed_at` text NOT NULL,
	PRIMARY KEY(`tenant`, `tool`)
);
