-- Every code a person has ever had, kept by triggers so no code path can forget it: the
-- primary key of referral_codes then refuses a code that is, or ever was, anyone's.
INSERT INTO `referral_codes` (`code`, `user_id`, `created_at`) SELECT `referral_code`, `id`, `created_at` FROM `users`;
--> statement-breakpoint
CREATE TRIGGER `users_referral_code_insert`
AFTER INSERT ON `users`
BEGIN
  INSERT INTO `referral_codes` (`code`, `user_id`, `created_at`) VALUES (NEW.`referral_code`, NEW.`id`, NEW.`created_at`);
END;
--> statement-breakpoint
CREATE TRIGGER `users_referral_code_update`
AFTER UPDATE OF `referral_code` ON `users`
WHEN NEW.`referral_code` <> OLD.`referral_code`
BEGIN
  INSERT INTO `referral_codes` (`code`, `user_id`, `created_at`) VALUES (NEW.`referral_code`, NEW.`id`, coalesce(NEW.`code_changed_at`, NEW.`created_at`));
END;
--> statement-breakpoint
-- How a ranked user is shown is part of the cached pages, like their name.
DROP TRIGGER `users_leaderboard_version`;
--> statement-breakpoint
CREATE TRIGGER `users_leaderboard_version`
AFTER UPDATE OF `referrals_count`, `status`, `name`, `last_referral_at`, `leaderboard_display` ON `users`
WHEN OLD.`referrals_count` > 0 OR NEW.`referrals_count` > 0
BEGIN
  UPDATE `app_state` SET `value` = `value` + 1 WHERE `key` = 'leaderboard_version';
END;
--> statement-breakpoint
-- The covering ranking index (0008) also carries how each person is shown, so a page
-- still reads index pages only.
DROP INDEX IF EXISTS `users_ranking_idx`;
--> statement-breakpoint
CREATE INDEX `users_ranking_idx` ON `users` ("referrals_count" desc, `last_referral_at`, `id`, `name`, `leaderboard_display`) WHERE status = 'active' and referrals_count > 0;
