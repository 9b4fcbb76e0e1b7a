CREATE TABLE `app_settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `period_score_counts` (
	`period` integer NOT NULL,
	`score` integer NOT NULL,
	`users` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`period`, `score`)
);
--> statement-breakpoint
CREATE TABLE `period_scores` (
	`period` integer NOT NULL,
	`user_id` integer NOT NULL,
	`referrals` integer DEFAULT 0 NOT NULL,
	`reached_at` integer NOT NULL,
	PRIMARY KEY(`period`, `user_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `period_scores_ranking_idx` ON `period_scores` (`period`,"referrals" desc,`reached_at`,`user_id`) WHERE referrals > 0;