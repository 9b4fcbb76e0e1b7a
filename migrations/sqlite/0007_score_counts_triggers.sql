-- score_counts holds, per referral count, how many ranked users (active, count > 0) have
-- it. These triggers keep it exact in the same statement as every insert, update and
-- delete of a user, so no code path can forget it.
INSERT INTO `score_counts` (`score`, `users`)
  SELECT `referrals_count`, count(*) FROM `users`
  WHERE `status` = 'active' AND `referrals_count` > 0
  GROUP BY `referrals_count`;
--> statement-breakpoint
CREATE TRIGGER `users_score_counts_insert`
AFTER INSERT ON `users`
WHEN NEW.`status` = 'active' AND NEW.`referrals_count` > 0
BEGIN
  INSERT INTO `score_counts` (`score`, `users`) VALUES (NEW.`referrals_count`, 1)
    ON CONFLICT (`score`) DO UPDATE SET `users` = `users` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `users_score_counts_delete`
AFTER DELETE ON `users`
WHEN OLD.`status` = 'active' AND OLD.`referrals_count` > 0
BEGIN
  UPDATE `score_counts` SET `users` = `users` - 1 WHERE `score` = OLD.`referrals_count`;
END;
--> statement-breakpoint
CREATE TRIGGER `users_score_counts_update`
AFTER UPDATE OF `referrals_count`, `status` ON `users`
WHEN (OLD.`status` = 'active' AND OLD.`referrals_count` > 0) OR (NEW.`status` = 'active' AND NEW.`referrals_count` > 0)
BEGIN
  UPDATE `score_counts` SET `users` = `users` - 1
    WHERE `score` = OLD.`referrals_count` AND OLD.`status` = 'active' AND OLD.`referrals_count` > 0;
  INSERT INTO `score_counts` (`score`, `users`)
    SELECT NEW.`referrals_count`, 1 WHERE NEW.`status` = 'active' AND NEW.`referrals_count` > 0
    ON CONFLICT (`score`) DO UPDATE SET `users` = `users` + 1;
END;
