-- Every worker caches leaderboard pages tagged with this version. Bumping it in the
-- same statement as the change (a trigger cannot be forgotten by a code path) means
-- no cached page outlives the ranking it was computed from.
INSERT INTO `app_state` (`key`, `value`) VALUES ('leaderboard_version', 0);
--> statement-breakpoint
CREATE TRIGGER `users_leaderboard_version`
AFTER UPDATE OF `referrals_count`, `status`, `name`, `last_referral_at` ON `users`
WHEN OLD.`referrals_count` > 0 OR NEW.`referrals_count` > 0
BEGIN
  UPDATE `app_state` SET `value` = `value` + 1 WHERE `key` = 'leaderboard_version';
END;
