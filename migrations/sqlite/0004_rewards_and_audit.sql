CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_id` integer,
	`action` text NOT NULL,
	`target_type` text NOT NULL,
	`target_id` integer,
	`details` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`actor_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `audit_log_created_idx` ON `audit_log` (`created_at`);--> statement-breakpoint
CREATE TABLE `reward_tiers` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`threshold` integer NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	CONSTRAINT "reward_tiers_threshold_check" CHECK("reward_tiers"."threshold" >= 1)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `reward_tiers_threshold_unique` ON `reward_tiers` (`threshold`);--> statement-breakpoint
CREATE TABLE `user_rewards` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`tier_id` integer NOT NULL,
	`status` text DEFAULT 'awarded' NOT NULL,
	`awarded_at` integer NOT NULL,
	`fulfilled_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`tier_id`) REFERENCES `reward_tiers`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "user_rewards_status_check" CHECK("user_rewards"."status" in ('awarded', 'fulfilled', 'withdrawn'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `user_rewards_user_tier_unique` ON `user_rewards` (`user_id`,`tier_id`);--> statement-breakpoint
CREATE INDEX `users_created_idx` ON `users` (`created_at`);