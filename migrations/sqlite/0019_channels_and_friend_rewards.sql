CREATE TABLE `channel_days` (
	`day` integer NOT NULL,
	`channel` text NOT NULL,
	`clicks` integer DEFAULT 0 NOT NULL,
	`signups` integer DEFAULT 0 NOT NULL,
	`confirmed` integer DEFAULT 0 NOT NULL,
	`credited` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day`, `channel`)
);
--> statement-breakpoint
CREATE TABLE `friend_rewards` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`referral_id` integer NOT NULL,
	`offer` text NOT NULL,
	`status` text DEFAULT 'awarded' NOT NULL,
	`awarded_at` integer NOT NULL,
	`fulfilled_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`referral_id`) REFERENCES `referrals`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "friend_rewards_status_check" CHECK("friend_rewards"."status" in ('awarded', 'fulfilled', 'withdrawn'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `friend_rewards_user_id_unique` ON `friend_rewards` (`user_id`);--> statement-breakpoint
CREATE INDEX `friend_rewards_status_awarded_idx` ON `friend_rewards` (`status`,`awarded_at`);--> statement-breakpoint
-- Edited by hand: drizzle-kit would rebuild referrals and referral_clicks to add a CHECK,
-- which drops their triggers and copies every row; ADD COLUMN with the CHECK inline keeps
-- both tables (and is instant at a million rows). The snapshot describes the same schema.
ALTER TABLE `referral_clicks` ADD `channel` text DEFAULT 'link' NOT NULL CONSTRAINT "referral_clicks_channel_check" CHECK("channel" in ('email', 'whatsapp', 'x', 'facebook', 'linkedin', 'telegram', 'qr', 'copy', 'link', 'other', 'code', 'api', 'admin', 'unknown'));--> statement-breakpoint
ALTER TABLE `referral_clicks` ADD `utm_source` text;--> statement-breakpoint
ALTER TABLE `referral_clicks` ADD `utm_medium` text;--> statement-breakpoint
ALTER TABLE `referral_clicks` ADD `utm_campaign` text;--> statement-breakpoint
ALTER TABLE `referrals` ADD `channel` text DEFAULT 'unknown' NOT NULL CONSTRAINT "referrals_channel_check" CHECK("channel" in ('email', 'whatsapp', 'x', 'facebook', 'linkedin', 'telegram', 'qr', 'copy', 'link', 'other', 'code', 'api', 'admin', 'unknown'));--> statement-breakpoint
ALTER TABLE `referrals` ADD `utm_source` text;--> statement-breakpoint
ALTER TABLE `referrals` ADD `utm_medium` text;--> statement-breakpoint
ALTER TABLE `referrals` ADD `utm_campaign` text;
