CREATE TABLE `user_signals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`kind` text NOT NULL,
	`hash` text NOT NULL,
	`first_seen_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "user_signals_kind_check" CHECK("user_signals"."kind" in ('network', 'device'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `user_signals_user_kind_hash_unique` ON `user_signals` (`user_id`,`kind`,`hash`);--> statement-breakpoint
CREATE TABLE `user_tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`purpose` text NOT NULL,
	`token_hash` text NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "user_tokens_purpose_check" CHECK("user_tokens"."purpose" in ('password_reset', 'email_verify'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `user_tokens_token_hash_unique` ON `user_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `user_tokens_user_purpose_idx` ON `user_tokens` (`user_id`,`purpose`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_referrals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`referrer_id` integer NOT NULL,
	`referred_user_id` integer NOT NULL,
	`referred_email` text NOT NULL,
	`source` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`fraud_reasons` text DEFAULT '' NOT NULL,
	`network_hash` text,
	`device_hash` text,
	`email_alias_hash` text,
	`created_at` integer NOT NULL,
	`screened_at` integer,
	`credited_at` integer,
	`rejected_at` integer,
	`revoked_at` integer,
	FOREIGN KEY (`referrer_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`referred_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "referrals_source_check" CHECK("__new_referrals"."source" in ('signup', 'applied', 'admin', 'api')),
	CONSTRAINT "referrals_status_check" CHECK("__new_referrals"."status" in ('pending', 'held', 'credited', 'rejected', 'revoked')),
	CONSTRAINT "referrals_not_self_check" CHECK("__new_referrals"."referrer_id" <> "__new_referrals"."referred_user_id")
);
--> statement-breakpoint
INSERT INTO `__new_referrals`("id", "referrer_id", "referred_user_id", "referred_email", "source", "status", "created_at", "revoked_at") SELECT "id", "referrer_id", "referred_user_id", "referred_email", "source", "status", "created_at", "revoked_at" FROM `referrals`;--> statement-breakpoint
DROP TABLE `referrals`;--> statement-breakpoint
ALTER TABLE `__new_referrals` RENAME TO `referrals`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `referrals_referred_user_id_unique` ON `referrals` (`referred_user_id`);--> statement-breakpoint
CREATE INDEX `referrals_referrer_created_idx` ON `referrals` (`referrer_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `referrals_referrer_status_idx` ON `referrals` (`referrer_id`,`status`);--> statement-breakpoint
CREATE INDEX `referrals_status_created_idx` ON `referrals` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `referrals_created_idx` ON `referrals` (`created_at`);--> statement-breakpoint
CREATE INDEX `referrals_velocity_idx` ON `referrals` (`referrer_id`,`network_hash`,`created_at`);--> statement-breakpoint
CREATE INDEX `referrals_email_alias_idx` ON `referrals` (`email_alias_hash`);--> statement-breakpoint
ALTER TABLE `users` ADD `email_verified_at` integer;