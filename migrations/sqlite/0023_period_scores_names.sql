-- A month's leaderboard page read period_scores_ranking_idx and then 20 users by primary
-- key for their names, display choice and status, where all time reads users_ranking_idx
-- alone. period_scores now carries a copy of those three columns, kept by triggers: filled
-- from users when a row is made, and rewritten on every change to the user (rename,
-- display choice, disable, enable, deletion). The ranking index covers the names and holds
-- only active referrers, so a month's page reads one index range, as all time does.
DROP INDEX `period_scores_ranking_idx`;--> statement-breakpoint
ALTER TABLE `period_scores` ADD `name` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `period_scores` ADD `leaderboard_display` text DEFAULT 'name' NOT NULL;--> statement-breakpoint
ALTER TABLE `period_scores` ADD `status` text DEFAULT 'active' NOT NULL;--> statement-breakpoint
UPDATE `period_scores` SET (`name`, `leaderboard_display`, `status`) =
  (SELECT `name`, `leaderboard_display`, `status` FROM `users` WHERE `users`.`id` = `period_scores`.`user_id`);--> statement-breakpoint
CREATE INDEX `period_scores_user_idx` ON `period_scores` (`user_id`);--> statement-breakpoint
CREATE INDEX `period_scores_ranking_idx` ON `period_scores` (`period`, "referrals" desc, `reached_at`, `user_id`, `name`, `leaderboard_display`)
  WHERE status = 'active' and referrals > 0;--> statement-breakpoint
CREATE TRIGGER period_scores_copy_user AFTER INSERT ON period_scores
BEGIN
  UPDATE period_scores SET (name, leaderboard_display, status) = (SELECT name, leaderboard_display, status FROM users WHERE id = NEW.user_id)
    WHERE period = NEW.period AND user_id = NEW.user_id;
END;--> statement-breakpoint
CREATE TRIGGER users_period_scores_copy AFTER UPDATE OF name, leaderboard_display, status ON users
WHEN OLD.name IS NOT NEW.name OR OLD.leaderboard_display IS NOT NEW.leaderboard_display OR OLD.status IS NOT NEW.status
BEGIN
  UPDATE period_scores SET name = NEW.name, leaderboard_display = NEW.leaderboard_display, status = NEW.status WHERE user_id = NEW.id;
END;
