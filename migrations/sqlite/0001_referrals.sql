CREATE TABLE `app_state` (
	`key` text PRIMARY KEY NOT NULL,
	`value` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `referral_clicks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`referrer_id` integer NOT NULL,
	`ip_hash` text NOT NULL,
	`user_agent_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`referrer_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `referral_clicks_referrer_created_idx` ON `referral_clicks` (`referrer_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `referral_clicks_created_idx` ON `referral_clicks` (`created_at`);--> statement-breakpoint
CREATE TABLE `referrals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`referrer_id` integer NOT NULL,
	`referred_user_id` integer NOT NULL,
	`referred_email` text NOT NULL,
	`source` text NOT NULL,
	`status` text DEFAULT 'credited' NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`referrer_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`referred_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "referrals_source_check" CHECK("referrals"."source" in ('signup', 'applied', 'admin')),
	CONSTRAINT "referrals_status_check" CHECK("referrals"."status" in ('credited', 'revoked')),
	CONSTRAINT "referrals_not_self_check" CHECK("referrals"."referrer_id" <> "referrals"."referred_user_id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `referrals_referred_user_id_unique` ON `referrals` (`referred_user_id`);--> statement-breakpoint
CREATE INDEX `referrals_referrer_created_idx` ON `referrals` (`referrer_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `referrals_created_idx` ON `referrals` (`created_at`);--> statement-breakpoint
CREATE INDEX `users_ranking_idx` ON `users` ("referrals_count" desc,`last_referral_at`,`id`) WHERE status = 'active' and referrals_count > 0;