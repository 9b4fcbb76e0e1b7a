CREATE TABLE `referral_days` (
	`referrer_id` integer NOT NULL,
	`day` integer NOT NULL,
	`credited` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`referrer_id`, `day`),
	FOREIGN KEY (`referrer_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
