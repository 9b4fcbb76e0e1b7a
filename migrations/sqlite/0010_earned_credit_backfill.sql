-- Rows from before earned credit: every existing referral was credited when it was made,
-- and every existing account is treated as confirmed (it has been receiving our email),
-- so an upgrade changes no count and shows nobody a banner.
UPDATE `referrals` SET `credited_at` = `created_at`, `screened_at` = `created_at` WHERE `status` IN ('credited', 'revoked');
--> statement-breakpoint
UPDATE `users` SET `email_verified_at` = `created_at` WHERE `email_verified_at` IS NULL;
--> statement-breakpoint
INSERT INTO `user_tokens` (`user_id`, `purpose`, `token_hash`, `expires_at`, `used_at`, `created_at`)
  SELECT `user_id`, 'password_reset', `token_hash`, `expires_at`, `used_at`, `created_at` FROM `password_reset_tokens`;
